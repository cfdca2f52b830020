"""Staging: CRM exports and SQL queries into valid, Gong-ready LDJSON."""
