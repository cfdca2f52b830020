"""Faults that tests inject through ``/_emulator/faults`` to prove the client's resilience."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("status", "drop_after_store", "delay", "fail_next_request", "done_with_errors")

DEFAULT_MESSAGES = {
    429: "API request limit exceeded",
    500: "Failed to complete the operation due to an unexpected error",
    502: "Bad gateway",
    503: "Service unavailable",
}


@dataclass
class Fault:
    """One armed fault: it applies to the next ``count`` calls matching ``path`` and ``method``."""

    kind: str
    count: int = 1
    path: str | None = None
    method: str | None = None
    status: int | None = None
    retry_after: int | None = None
    seconds: float | None = None
    description: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        fault = cls(**data)
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(fault.count, int) or fault.count < 1:
            raise ValueError("count must be an integer >= 1")
        if fault.kind == "status" and (not isinstance(fault.status, int) or not 400 <= fault.status <= 599):
            raise ValueError("a status fault needs status between 400 and 599")
        if fault.kind == "delay" and (not isinstance(fault.seconds, (int, float)) or fault.seconds < 0):
            raise ValueError("a delay fault needs seconds >= 0")
        if fault.retry_after is not None and (
            not isinstance(fault.retry_after, int) or fault.retry_after < 0
        ):
            raise ValueError("retry_after must be an integer >= 0")
        if fault.method is not None:
            fault.method = fault.method.upper()
        return fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path == path)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBoard:
    """The armed faults, in the order they were injected; each call consumes at most one per group."""

    RESPONSE_KINDS = ("status", "drop_after_store")

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> Fault | None:
        """Consume one use of the first armed fault of ``kinds`` matching this call."""
        for fault in self.faults:
            if fault.kind in kinds and fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def to_json(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self.faults]
