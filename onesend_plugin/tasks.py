"""django-q2 task entry points. Arguments are primary keys, never model instances: payloads are
pickled, and a task may run more than once, so every task is idempotent."""

from __future__ import annotations

from django_q.tasks import async_task

from . import inbox


def process_webhook_delivery(delivery_id: str) -> int:
    return inbox.process_delivery(delivery_id)


def enqueue_webhook_processing(delivery_id) -> None:
    async_task(process_webhook_delivery, str(delivery_id), task_name=f"onesend-webhook-{delivery_id}")
