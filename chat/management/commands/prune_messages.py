"""``manage.py prune_messages``: remove messages older than their namespace's retention_days."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chat import services


class Command(BaseCommand):
    help = "Remove messages older than their namespace's retention_days (PARLEY_RETENTION_DAYS; 0: keep)."

    def handle(self, *args: Any, **options: Any) -> None:
        removed = services.prune()
        for ns, count in sorted(removed.items()):
            self.stdout.write(f"{ns}: {count} messages removed")
        self.stdout.write(f"done: {sum(removed.values())} messages removed")
