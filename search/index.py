"""Keeping the index (``models.SearchDoc``) in step with the messages, in the transaction that
stores the changes, so a new or edited message is found, and a deleted one is not, from the moment
the change commits:

- new messages are indexed by ``chat.store.insert``: on PostgreSQL in its one statement, with
  ``values``; on SQLite with ``row`` and ``upsert``'s statement, on the store's own connection;
- ``apply`` is called by ``chat.services`` (the one place: ``_Batch.write``) for the stored
  messages a batch edited or deleted: one upsert for the edited, one delete for the deleted.

``rebuild`` (``manage.py search_reindex``, the migration) indexes stored messages in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from django.db import connection, transaction

from core import backends

from .tokens import index_lexemes

TABLE = "search_searchdoc"
GIN_INDEX = f"CREATE INDEX search_doc_gin ON {TABLE} USING gin (doc)"  # also in the migration
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position (later terms share it)


class Indexable(Protocol):
    """What the index reads of a message (``chat.models.Message``)."""

    pk: Any
    room_id: int
    sender: str
    body: str
    html: str
    attachments: list[Any]
    deleted: bool


def terms(body: str, attachments: Iterable[dict[str, Any]] = ()) -> list[str]:
    """What a message is found by, in order: its text's terms, then its attachments' file names'."""
    found = index_lexemes(body)
    for attachment in attachments:
        found.extend(index_lexemes(str(attachment.get("name", ""))))
    return found


def tsvector(found: Sequence[str]) -> str:
    """The lexemes ``found`` as a PostgreSQL ``tsvector`` literal with their positions (1-based)."""
    positions: dict[str, list[str]] = {}
    for i, lexeme in enumerate(found, start=1):
        at = positions.get(lexeme)
        if at is None:
            positions[lexeme] = [str(i if i < MAX_POSITION else MAX_POSITION)]
        else:
            at.append(str(i if i < MAX_POSITION else MAX_POSITION))
    return " ".join(f"'{_quoted(lexeme)}':{','.join(at)}" for lexeme, at in positions.items())


def _quoted(lexeme: str) -> str:
    """Terms are letters and digits: a quote or a backslash is not expected, but escaped if there."""
    if "'" in lexeme or "\\" in lexeme:
        return lexeme.replace("\\", "\\\\").replace("'", "''")
    return lexeme


def has_link(html: str) -> bool:
    return "<a href" in html


def row(pk: int, room_id: int, sender: str, body: str, html: str, attachments: list[Any]) -> tuple[Any, ...]:
    """The values of one SearchDoc row, in ``_COLUMNS`` order."""
    return (pk, room_id, *values(sender, body, html, attachments))


def values(sender: str, body: str, html: str, attachments: list[Any]) -> tuple[Any, ...]:
    """A message's row but its id and room: (sender, has_file, has_link, terms). ``chat.store``'s
    insert on PostgreSQL writes new messages' rows with these, in the statement that inserts them
    (their ids are known only there)."""
    found = terms(body, attachments)
    text = tsvector(found) if backends.postgresql() else " ".join(found)
    return (sender.casefold(), bool(attachments), has_link(html), text)


_COLUMNS = "message_id, room_id, sender, has_file, has_link"


def _upsert_sql(count: int) -> str:
    if backends.postgresql():
        one, text = "(%s, %s, %s, %s, %s, %s::tsvector)", "doc"
    else:
        one, text = "(%s, %s, %s, %s, %s, %s)", "terms"
    return (
        f"INSERT INTO {TABLE} ({_COLUMNS}, {text}) VALUES {', '.join([one] * count)} "
        f"ON CONFLICT (message_id) DO UPDATE SET sender = excluded.sender, has_file = excluded.has_file, "
        f"has_link = excluded.has_link, {text} = excluded.{text}"
    )


def upsert(rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """The statement that inserts or replaces these rows (``row``), and its parameters. ``chat.store``
    runs it on SQLite's own connection for a batch's new messages (as it runs its other statements
    there); ``write`` runs it through Django's cursor."""
    return _upsert_sql(len(rows)), [value for r in rows for value in r]


def write(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert or replace these rows (``row``): one statement."""
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(*upsert(rows))


def remove(pks: Iterable[int]) -> None:
    wanted = list(pks)
    if wanted:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE message_id IN ({', '.join(['%s'] * len(wanted))})", wanted)


def apply(*, changed: Iterable[Indexable]) -> None:
    """Called by ``chat.services`` in the transaction that stores a batch, with the messages it
    posted, edited or deleted (as they are now): the live ones are (re)indexed, the deleted ones
    leave the index. A reaction or a reply count changes nothing searchable: don't pass those."""
    live: list[tuple[Any, ...]] = []
    gone: list[int] = []
    for m in changed:
        if m.deleted:
            gone.append(m.pk)
        else:
            live.append(row(m.pk, m.room_id, m.sender, m.body, m.html, m.attachments))
    write(live)
    remove(gone)


def rebuild(
    *,
    namespace: str | None = None,
    fresh: bool = False,
    chunk: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Index every stored message again (of ``namespace`` only, if given), oldest first, in chunks
    of ``chunk`` (each its own transaction: searches go on meanwhile, finding each message as it
    was or as it is), then drop the rows of messages deleted since; ``progress(done, total)`` after
    each chunk. ``fresh``: empty the index (of ``namespace``) first. Returns how many messages were indexed."""
    with connection.cursor() as cursor:
        where = "m.deleted = %s"
        params: list[Any] = [False]
        if namespace is not None:
            where += " AND r.namespace_id = (SELECT id FROM chat_namespace WHERE name = %s)"
            params.append(namespace)
        base = f"FROM chat_message m JOIN chat_room r ON r.id = m.room_id WHERE {where}"
        cursor.execute(f"SELECT COUNT(*) {base}", params)
        total = cursor.fetchone()[0]
        bulk = fresh and namespace is None and connection.vendor == "postgresql"
        if bulk:  # the fastest build: COPY into an empty table, the GIN index made once at the end
            cursor.execute(f"TRUNCATE {TABLE}")
            cursor.execute("DROP INDEX IF EXISTS search_doc_gin")
        elif fresh:  # an empty index, then every message (searches find less meanwhile)
            if namespace is None:
                cursor.execute(f"DELETE FROM {TABLE}")
            else:
                cursor.execute(
                    f"DELETE FROM {TABLE} WHERE room_id IN (SELECT r.id FROM chat_room r WHERE r.namespace_id = "
                    "(SELECT id FROM chat_namespace WHERE name = %s))",
                    [namespace],
                )
        done, after = 0, 0
        while True:
            cursor.execute(
                f"SELECT m.id, m.room_id, m.sender, m.body, m.html, m.attachments {base} AND m.id > %s "
                f"ORDER BY m.id LIMIT %s",
                [*params, after, chunk],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            found = [row(pk, room, sender, body, html, _json(att)) for pk, room, sender, body, html, att in rows]
            with transaction.atomic():
                if bulk:
                    with cursor.cursor.copy(f"COPY {TABLE} ({_COLUMNS}, doc) FROM STDIN") as copy:
                        for values in found:
                            copy.write_row(values)
                else:
                    write(found)
            done += len(rows)
            after = rows[-1][0]
            if progress is not None:
                progress(done, total)
        if bulk:
            cursor.execute(GIN_INDEX)
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE message_id IN (SELECT id FROM chat_message WHERE deleted = %s)", [True]
        )
    return done


def _json(value: Any) -> list[Any]:
    """A JSON column read by a raw query: decoded by psycopg, text on SQLite."""
    if isinstance(value, str):
        import json

        decoded: list[Any] = json.loads(value)
        return decoded
    return list(value or [])
