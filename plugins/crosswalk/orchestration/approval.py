"""The go-live approval as a human-in-the-loop task that a dry run skips."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowSkipException


class GoLiveApproval(ApprovalOperator):
    """Asks the named approver under Required Actions; a dry run asks nobody and publishes nothing."""

    def execute(self, context: Any) -> Any:
        if (context.get("params") or {}).get("dry_run"):
            raise AirflowSkipException("dry run: no approval asked for; nothing goes live")
        from crosswalk.notify import APPROVAL_NEEDED
        from crosswalk.orchestration.callbacks import notify_about
        from crosswalk.orchestration.resources import project_config

        who = ", ".join(u.get("name") or u["id"] for u in self.assigned_users or []) or "an approver"
        summary = f"{self.subject}: waiting for {who} under Required Actions"
        notify_about(project_config(), APPROVAL_NEEDED, summary, context["ti"])
        return super().execute(context)
