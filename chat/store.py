"""The SQL of ``services.apply_changes``: what a batch reads before it applies its changes, and
what it inserts after. ``services`` decides what to read and what the changes make; this module
only talks to the database, in few statements, as raw SQL.

Why (issue 19): one unbatched message cost nine round trips to PostgreSQL, and the ORM's query
compilation was a large part of the server's CPU. On PostgreSQL, through psycopg on Django's own
connection (in Django's transaction), a batch of new messages is three round trips: BEGIN with its
reads (one to four statements in one query: the locks, and the mutes, stored ``client_id``s and
registered names when it has signed-in senders, ``client_id``s or guests), one insert statement,
and the COMMIT.

No pipeline: psycopg's pipeline mode sent the reads with the BEGIN and the COMMIT with the insert
(one round trip each, ~160 us of CPU less per message in the store) but, under the soak's load on
two processes, left the server waiting for the rest of a pipeline for 20-200 ms
(``pg_stat_activity``: the INSERT active, waiting on ``ClientRead``) while the transaction held its
rooms' locks: the quiet rooms' echo went from 6 / 8 ms (p50 / p99) to 90 / 220 ms. One statement
at a time does not stall.

- ``read``: the rooms' row locks (``SELECT ... FOR UPDATE``, in id order: two batches never
  deadlock), then the mutes, the stored ``client_id``s and the registered skeletons. Each is its
  own statement (sent together, ``_one_round_trip``), so the ``client_id`` lookup runs after the
  locks are granted and sees a batch that committed while this one waited (one statement would
  read from before the wait).
- ``insert``: one statement (CTEs) inserts the new messages, every event, the new messages' search
  rows and the mentions, and moves the rooms' counters (``last_id``, under the lock ``read`` took).
  The rows travel as one JSON parameter (``jsonb_to_recordset``): its text is the same for any
  batch, so it is a prepared statement (parsed and planned once per connection;
  ``PARLEY_DB_PREPARE``; the reads are not: a multi-statement query cannot be), and one
  ``orjson.dumps`` costs a fraction of what psycopg's dumping of 40 arrays did.

SQLite runs the same reads one after another (its IMMEDIATE transaction holds the database's write
lock already; no ``FOR UPDATE``), and a statement per table for the insert, also raw SQL.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple

import orjson
import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from core import backends
from search import index as search_index

from .models import Mention, Message

Rows = list[tuple[Any, ...]]


class NewEvent(NamedTuple):
    """An event to insert (a row of ``chat_event``): a tuple, not a model, as one is made for every
    change stored (``Event``'s ``__init__`` cost 4.2 us; nothing reads it back as a model)."""

    room_id: int
    seq: int
    kind: str
    frame: str


_pg = backends.postgresql


def _in(column: str, values: Collection[Any], kind: str) -> tuple[str, list[Any]]:
    """``column`` is one of ``values``: one array parameter on PostgreSQL, a list of parameters on
    SQLite."""
    if _pg():
        return f"{column} = ANY(%s::{kind}[])", [_array(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _array(values: Iterable[int | str]) -> str:
    """A PostgreSQL array's text (``{1,2}``, ``{"a","b \\"c\\""}``), passed as a string and cast in
    the SQL: psycopg's client-side binding of Python lists found each element's type in Python,
    ~50 us of the reads' ~60 us of binding per message. Every string is quoted, so none reads as
    NULL, and its backslashes and double quotes are escaped (a test sends ``client_id``s of them)."""
    return "{" + ",".join(str(v) if isinstance(v, int) else _quoted(v) for v in values) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _connection() -> BaseDatabaseWrapper:
    """Django's connection of this thread, looked up once per read or insert and passed down:
    ``django.db.connection`` is a proxy that looks it up again on every attribute (~1.2 us each
    here, about twenty a message on SQLite's path)."""
    return connections[DEFAULT_DB_ALIAS]


def _run(db: BaseDatabaseWrapper, queries: Sequence[tuple[str, list[Any]]]) -> list[Rows]:
    """Each query's rows, in order; on PostgreSQL in one round trip (``_one_round_trip``). They are
    logged like the ORM's when Django logs queries (DEBUG, tests)."""
    if not _pg():
        return [_sqlite(db, sql, params).fetchall() for sql, params in queries]
    if db.queries_logged:
        db.queries_log.extend({"sql": sql, "time": "0.000"} for sql, _ in queries)
    with db.wrap_database_errors:
        return _one_round_trip(db.connection, queries)


def _one_round_trip(pg: psycopg.Connection[Any], queries: Sequence[tuple[str, list[Any]]]) -> list[Rows]:
    """The reads as one multi-statement query, led by the transaction's BEGIN when none is open
    yet: one round trip, where psycopg sends the BEGIN alone and each prepared read as its own
    (a message cost six: BEGIN, two or three reads, the insert, COMMIT; now three).

    The simple query protocol, so psycopg binds the values on the client and the reads are planned
    each time (a few small statements on indexes; the insert stays prepared). Each statement of a
    multi-statement query takes its own snapshot in READ COMMITTED, so the ``client_id`` read after
    the lock still sees a batch that committed while the lock waited (a test holds the lock).

    BEGIN in the text: Django's ``atomic`` turned psycopg's autocommit off and nothing has been
    sent, so psycopg would send its own BEGIN first; autocommit goes back on in psycopg only (Django
    keeps its own flag) and the transaction is ours to open. Django's commit or rollback at the end
    of ``atomic`` ends it as any other (psycopg's ``commit`` looks at the server's transaction
    status, not at autocommit), and its ``set_autocommit(True)`` after finds it already so."""
    text = "; ".join(sql for sql, _ in queries)
    params = [value for _, values in queries for value in values]
    begin = pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and not pg.autocommit
    if begin:
        pg.autocommit = True
        text = f"BEGIN; {text}"
    cursor = psycopg.ClientCursor(pg)
    cursor.execute(text, params)
    if begin:
        cursor.nextset()
    found = []
    for _ in queries:
        found.append(cursor.fetchall())
        cursor.nextset()
    return found


def read(
    *,
    rooms: list[int],
    mutes: set[tuple[int, int]],
    client_ids: set[tuple[int, str]],
    skeletons: set[str],
) -> tuple[dict[int, int], Rows, dict[tuple[int, str | None], tuple[int, str]], set[str]]:
    """Lock ``rooms`` (ids, sorted) for this transaction and read:
    their ``last_id`` by id; the mute rows (namespace id, user id, until) that may concern the
    (namespace, user) pairs ``mutes``; the stored posts of ``client_ids`` (room id, client_id) as
    (id, frame); which of ``skeletons`` are registered usernames'. A read with nothing to look for
    is not sent."""
    where, params = _in("id", rooms, "bigint")
    queries = [(f"SELECT id, last_id FROM chat_room WHERE {where} ORDER BY id{' FOR UPDATE' if _pg() else ''}", params)]
    if mutes:
        in_ns, ns = _in("namespace_id", {n for n, _ in mutes}, "bigint")
        in_user, users = _in("user_id", {u for _, u in mutes}, "bigint")
        queries.append(
            (f"SELECT namespace_id, user_id, until FROM chat_sanction WHERE kind = %s AND {in_ns} AND {in_user}",
             ["mute", *ns, *users])
        )  # fmt: skip
    if client_ids:
        queries.append(_stored_posts(client_ids))
    if skeletons:
        in_skeleton, names = _in("skeleton", skeletons, "text")
        queries.append((f"SELECT skeleton FROM accounts_usernameskeleton WHERE {in_skeleton}", names))
    found = iter(_run(_connection(), queries))
    last_ids = {pk: last_id for pk, last_id in next(found)}
    muted = [(n, u, _aware(until)) for n, u, until in next(found)] if mutes else []
    seen = {(r, c): (s, f) for r, c, s, f in next(found)} if client_ids else {}
    taken = {row[0] for row in next(found)} if skeletons else set()
    return last_ids, muted, seen, taken


def _stored_posts(client_ids: set[tuple[int, str]]) -> tuple[str, list[Any]]:
    """The stored posts of these (room id, ``client_id``) pairs, each looked up by its pair: one
    descent of the (room, client_id) index per pair. (``room_id = ANY(rooms) AND client_id =
    ANY(ids)`` made PostgreSQL 15 descend it for every room times every id: 2,209 descents for a
    batch of 47 rooms, about half of its CPU per message in D, and more as the table grew.)"""
    pairs = sorted(client_ids)
    join = (
        "JOIN chat_message m ON m.room_id = k.room_id AND m.client_id = k.client_id "
        "JOIN chat_event e ON e.room_id = m.room_id AND e.seq = m.seq"
    )
    if _pg():
        arrays = [_array(r for r, _ in pairs), _array(c for _, c in pairs)]
        return (f"SELECT m.room_id, m.client_id, m.seq, e.frame FROM unnest(%s::bigint[], %s::text[]) "
                f"AS k(room_id, client_id) {join}", arrays)  # fmt: skip
    values = ", ".join(["(%s, %s)"] * len(pairs))
    return (f"WITH k(room_id, client_id) AS (VALUES {values}) SELECT m.room_id, m.client_id, m.seq, e.frame "
            f"FROM k {join}", [v for pair in pairs for v in pair])  # fmt: skip


def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    """A datetime read by raw SQL: SQLite's comes naive (in UTC, as Django stores it)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=datetime.UTC)


def insert(
    *,
    new: list[Message],
    events: list[NewEvent],
    mentions: list[Mention],
    last_ids: dict[int, int],
    now: datetime.datetime,
    need_ids: bool,
) -> None:
    """Insert the batch's new messages (as they are now: a later change of the batch may have
    edited or deleted one), its events and mentions, index its new messages that are not deleted,
    and set the rooms' ``last_id`` (and last activity) to ``last_ids``. ``need_ids``: set the new
    messages' ``pk`` (an upload claimed by one needs it)."""
    db = _connection()
    if not _pg():
        _insert_sqlite(db, new, events, now=now)
        if mentions:
            Mention.objects.bulk_create(mentions)
        rows = [
            search_index.row(m.pk, m.room_id, m.sender, m.body, m.html, m.attachments) for m in new if not m.deleted
        ]
        if rows:
            _sqlite(db, *search_index.upsert(rows))
        _move_counters(db, last_ids, now=now)
        return
    live = [m for m in new if not m.deleted]
    batch = {
        "rooms": [{"id": pk, "last_id": last_id} for pk, last_id in last_ids.items()],
        "messages": [{name: getattr(m, name) for name in _MESSAGE_COLUMNS} for m in new],
        "events": [e._asdict() for e in events],
        "mentions": [{"user_id": n.user_id, "room_id": n.room_id, "seq": n.seq} for n in mentions],
        "search": [_search_row(m) for m in live],
    }
    params = {"now": now, "batch": orjson.dumps(batch).decode()}
    if db.queries_logged:
        db.queries_log.append({"sql": _INSERT, "time": "0.000"})
    with db.wrap_database_errors:
        cursor = psycopg.Cursor(db.connection)
        cursor.execute(_INSERT, params, prepare=settings.PARLEY_DB_PREPARE)
        if need_ids:
            pks = {(room_id, seq): pk for pk, room_id, seq in cursor.fetchall()}
            for m in new:
                m.pk = pks[(m.room_id, m.seq)]


_JSON = ("attachments", "mentions", "reactions")
_MESSAGE_COLUMNS = (
    "room_id",
    "seq",
    "sender",
    "user_id",
    "session_key",
    "body",
    "html",
    "attachments",
    "client_id",
    "reply_to",
    "mentions",
    "edited",
    "deleted",
    "reactions",
    "replies",
    "bot",
)


def _search_row(m: Message) -> dict[str, Any]:
    sender, has_file, has_link, doc = search_index.values(m.sender, m.body, m.html, m.attachments)
    return {
        "room_id": m.room_id,
        "seq": m.seq,
        "sender": sender,
        "has_file": has_file,
        "has_link": has_link,
        "doc": doc,
    }


_INSERT = """
WITH batch AS (
    SELECT %(batch)s::jsonb AS b
), counters AS (
    UPDATE chat_room AS r SET last_id = c.last_id, last_activity = %(now)s
    FROM jsonb_to_recordset((SELECT b->'rooms' FROM batch)) AS c(id bigint, last_id bigint)
    WHERE r.id = c.id
), messages AS (
    INSERT INTO chat_message (room_id, seq, sender, user_id, session_key, body, html, attachments, client_id,
        reply_to, mentions, edited, deleted, reactions, replies, bot, created_at)
    SELECT *, %(now)s FROM jsonb_to_recordset((SELECT b->'messages' FROM batch)) AS m(room_id bigint,
        seq bigint, sender text, user_id bigint, session_key text, body text, html text, attachments jsonb,
        client_id text, reply_to bigint, mentions jsonb, edited boolean, deleted boolean, reactions jsonb,
        replies integer, bot boolean)
    RETURNING id, room_id, seq
), events AS (
    INSERT INTO chat_event (room_id, seq, kind, frame)
    SELECT * FROM jsonb_to_recordset((SELECT b->'events' FROM batch)) AS e(room_id bigint, seq bigint,
        kind text, frame text)
), mentions AS (
    INSERT INTO chat_mention (user_id, room_id, seq, created_at)
    SELECT *, %(now)s FROM jsonb_to_recordset((SELECT b->'mentions' FROM batch)) AS n(user_id bigint,
        room_id bigint, seq bigint)
), search AS (
    INSERT INTO search_searchdoc (message_id, room_id, sender, has_file, has_link, doc)
    SELECT m.id, m.room_id, s.sender, s.has_file, s.has_link, s.doc::tsvector
    FROM messages AS m JOIN jsonb_to_recordset((SELECT b->'search' FROM batch)) AS s(room_id bigint,
        seq bigint, sender text, has_file boolean, has_link boolean, doc text)
        ON s.room_id = m.room_id AND s.seq = m.seq
)
SELECT id, room_id, seq FROM messages
"""


def _sqlite(db: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> Any:
    """Run one statement on SQLite's own connection (``sqlite3``, its ``?`` placeholders), past
    Django's cursor wrapper: ~7 us a statement of Python (the placeholders rewritten by a regex on
    every call, the wrappers' frames), six or seven statements a message. Errors are Django's as
    through a cursor; the statement is logged like the ORM's when Django logs queries (DEBUG, tests).
    The connection is the one Django's transaction (``apply_changes``' ``atomic``) opened."""
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": "0.000"})
    with db.wrap_database_errors:
        return db.connection.execute(sql.replace("%s", "?"), params)


def _insert_sqlite(
    db: BaseDatabaseWrapper, new: list[Message], events: list[NewEvent], *, now: datetime.datetime
) -> None:
    """The new messages (their ``pk`` set) and the events: a multi-row INSERT each, SQL written
    here rather than compiled by the ORM's ``bulk_create`` (a tenth of SQLite's Q profile)."""
    created_at = db.ops.adapt_datetimefield_value(now)
    if new:
        one = f"({', '.join(['%s'] * (len(_MESSAGE_COLUMNS) + 1))})"
        inserted = _sqlite(
            db,
            f"INSERT INTO chat_message ({', '.join(_MESSAGE_COLUMNS)}, created_at) "
            f"VALUES {', '.join([one] * len(new))} RETURNING id, room_id, seq",
            [value for m in new for value in (*(_value(m, name) for name in _MESSAGE_COLUMNS), created_at)],
        )
        pks = {(room_id, seq): pk for pk, room_id, seq in inserted.fetchall()}
        for m in new:
            m.pk = pks[(m.room_id, m.seq)]
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(events))
    _sqlite(
        db,
        f"INSERT INTO chat_event (room_id, seq, kind, frame) VALUES {rows}",
        [value for e in events for value in e],
    )


def _value(o: Any, name: str) -> Any:
    value = getattr(o, name)
    return json.dumps(value) if name in _JSON else value


def _move_counters(db: BaseDatabaseWrapper, last_ids: dict[int, int], *, now: datetime.datetime) -> None:
    """Set each room's ``last_id`` (and last activity) in one statement, however many rooms (SQLite;
    PostgreSQL's is part of ``insert``'s statement).

    Raw SQL because the ORM's ``Case(When(...))`` for the ~35 rooms of a busy batch cost about
    ten times the statement itself in Python (a quarter of the server's CPU in the bench's D).
    """
    cases = " ".join(["WHEN %s THEN %s"] * len(last_ids))
    rooms = ", ".join(["%s"] * len(last_ids))
    params = [value for item in last_ids.items() for value in item]
    _sqlite(
        db,
        f"UPDATE chat_room SET last_id = CASE id {cases} END, last_activity = %s WHERE id IN ({rooms})",
        [*params, db.ops.adapt_datetimefield_value(now), *last_ids],
    )
