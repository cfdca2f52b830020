"""Waiting for Gong to process an upload: the contract between the trigger and the worker.

The poll schedule and the wall-clock deadline both sides keep, the one event the trigger yields and
how the worker validates it, and the synchronous wait of a task that does not defer. It sits between
the hook (which it calls) and the trigger, sensor and operator (which call it); it imports nothing
above the hook.
"""
