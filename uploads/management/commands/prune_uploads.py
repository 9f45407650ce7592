"""``manage.py prune_uploads``: remove the uploads no message used within PARLEY_UPLOAD_UNUSED_HOURS
(``prune_messages`` does this too, as part of the daily job)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from uploads import services, store


class Command(BaseCommand):
    help = "Remove uploads that no message used within PARLEY_UPLOAD_UNUSED_HOURS, and their files."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{services.prune_unused()} unused uploads removed")
        store.wait_for_removals()
