"""The database task store's table (used only with `--store db://`)."""

from __future__ import annotations

from django.db import models


class AgentTask(models.Model):
    """One agent task's whole record, replaced by every write (see comfyweb.agent.stores)."""

    task_id = models.CharField(max_length=128, primary_key=True)
    record = models.JSONField()
    status = models.CharField(max_length=16, blank=True, db_index=True)
    expires_at = models.FloatField(db_index=True, help_text="unix time after which the record is dropped")

    class Meta:
        verbose_name = "agent task"

    def __str__(self) -> str:
        return f"{self.task_id} ({self.status})"
