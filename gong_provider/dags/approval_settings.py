"""Settings of the delete approval shared by the Params and the task (no Airflow provider import)."""

DEFAULT_APPROVAL_HOURS = 24.0
"""How long the approval of withheld deletes waits before it rejects (Param delete_approval_hours)."""
