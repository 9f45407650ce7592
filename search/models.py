"""The search index: one row per message that can be found (docs/search.md).

``SearchDoc`` holds what the filters need (the room, the sender, has:file, has:link); the terms
themselves live in a column only the database's own full-text machinery reads, added by the
migration for each vendor:

- PostgreSQL: ``doc tsvector`` (the terms of ``search.tokens`` with their positions, written as a
  ``tsvector`` literal: no dictionary, so the ``simple`` configuration's behaviour with our own
  folding and CJK pairs), with a GIN index.
- SQLite: ``terms text`` (the terms, space-separated) and an FTS5 table ``search_fts`` whose
  content is this table (external content), kept by triggers on it: the same writes.

Written by ``search.index`` only, in the transaction that changes the message; a deleted message's
row goes (and a pruned one's by cascade).
"""

from __future__ import annotations

from django.db import models


class SearchDoc(models.Model):
    message = models.OneToOneField("chat.Message", on_delete=models.CASCADE, primary_key=True, related_name="+")
    room = models.ForeignKey("chat.Room", on_delete=models.CASCADE, related_name="+", db_index=False)
    sender = models.CharField(max_length=150)  # case-folded (from:)
    has_file = models.BooleanField(default=False)
    has_link = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"search doc of message {self.message_id}"
