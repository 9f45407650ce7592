"""``manage.py prune_messages``: remove messages older than their namespace's retention_days (with
their files), and the uploads no message used within ``PARLEY_UPLOAD_UNUSED_HOURS``: the one daily
job (``prune_uploads`` does the second part alone)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chat import services
from uploads import services as uploads
from uploads import store


class Command(BaseCommand):
    help = (
        "Remove messages older than their namespace's retention_days (PARLEY_RETENTION_DAYS; 0: keep), "
        "and uploads unused for PARLEY_UPLOAD_UNUSED_HOURS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = services.prune()
        for ns, count in sorted(removed.items()):
            self.stdout.write(f"{ns}: {count} messages removed")
        self.stdout.write(f"done: {sum(removed.values())} messages removed")
        self.stdout.write(f"{uploads.prune_unused()} unused uploads removed")
        store.wait_for_removals()
