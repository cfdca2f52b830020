"""The approve_deletes task of gong_crm_sync: a person approves the deletes mirror mode withheld.

When the delete guard withholds a type's deletes (more than ``max_delete_ratio`` of its confirmed
records), the stage task still writes them apart (``ChangePlan.withheld_files``) and this task asks
for an approval through the standard provider's :class:`ApprovalOperator` (human-in-the-loop: the
task waits in Airflow's "Required actions" without holding a worker slot). The request shows the
type, the number of deletes, the confirmed count, the ratio and a sample of objectIds. Approve: the
``send_approved_deletes`` task uploads exactly those files (the plan of the same run, nothing
recomputed) and ``commit`` applies them. Reject, or no answer within ``delete_approval_hours``
(default 24; the timeout answers Reject): nothing is sent and ``commit`` fails the type with the
guard's message, as before. ``delete_approval_hours=0`` asks nobody (unattended runs; there
``confirm_deletes`` sends the deletes).

On Airflow < 3.3 the operator waits for the answer in a trigger; this one swaps in
:class:`~gong_provider.triggers.hitl.HeldHITLTrigger`, so an answer given within seconds of the
request does not resume the task before the scheduler has read the report of its deferral
(apache/airflow#71580). On 3.3+ the answer resumes the task directly (no trigger; see docs/dags.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.triggers.hitl import HITLTrigger

from gong_provider.dags.approval_settings import approval_hours
from gong_provider.triggers.hitl import HeldHITLTrigger

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger


def approval_text(request: dict[str, Any]) -> tuple[str, str]:
    """The request's subject and Markdown body."""
    kind, deletes, confirmed = request["object_type"], request["deletes"], request["confirmed"]
    subject = f"Gong {kind}: delete {deletes} record(s) gone from the source?"
    sample = "\n".join(f"- `{object_id}`" for object_id in request["sample"])
    body = (
        f"Mirror mode would delete **{deletes}** {kind} record(s) from Gong: **{request['ratio']:.1%}** of "
        f"the **{confirmed}** confirmed, above `max_delete_ratio`, so the deletes were withheld.\n\n"
        f"**Approve** sends exactly these deletes (staged by this run) and commits them. **Reject** (or "
        f"no answer in time) sends nothing and fails {kind}.\n\n"
        f"First objectIds to delete:\n\n{sample}\n\nFiles: {', '.join(request['files'])}"
    )
    return subject, body


class GongDeleteApprovalOperator(ApprovalOperator):
    """Asks for an approval of the withheld deletes the stage task pushed (XCom ``withheld``);
    skipped when none were withheld or ``delete_approval_hours`` is 0."""

    def __init__(self, *, stage_task_id: str, **kwargs: Any) -> None:
        super().__init__(
            subject="Approve the deletes mirror mode withheld",
            defaults=ApprovalOperator.REJECT,  # a timeout rejects
            **kwargs,
        )
        self.stage_task_id = stage_task_id

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        request = context["ti"].xcom_pull(task_ids=self.stage_task_id, key="withheld")
        if not request:
            raise AirflowSkipException("no delete was withheld: nothing to approve")
        hours = approval_hours(context["params"])
        if hours <= 0:
            raise AirflowSkipException(
                "delete_approval_hours=0: no approval asked; the type fails with the guard's message"
            )
        self.response_timeout = timedelta(hours=hours)
        self.subject, self.body = approval_text(request)
        return super().execute(context)

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | float | None = None,
    ) -> NoReturn:
        """Airflow < 3.3 waits for the answer in :class:`HITLTrigger`: wait in the held one instead."""
        if isinstance(trigger, HITLTrigger) and not isinstance(trigger, HeldHITLTrigger):
            trigger = HeldHITLTrigger.holding(trigger)
        super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)


def was_approved(answer: Any) -> bool:
    """Whether the approval task's return value (the standard provider's HITL payload) says Approve;
    None (skipped: nothing withheld, no approval asked) or Reject (also a timeout's answer) is not."""
    chosen = answer.get("chosen_options") if isinstance(answer, dict) else None
    return isinstance(chosen, list) and ApprovalOperator.APPROVE in chosen
