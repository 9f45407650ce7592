"""Search reads: the messages matching a query among those the caller may read now.

Permissions first: the rooms the caller may read (``chat.access.readable_rooms``) are the only
ones the index is asked about, so a match in a room they may not read is never read at all, and a
word found only there answers exactly as a word found nowhere (the same empty page).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from chat import access, protocol
from chat.access import Caller
from chat.models import Message

from . import query as q
from .highlights import highlights


def search(
    caller: Caller, query: q.Query, *, ns: str | None = None, room: str | None = None, before: int | None, limit: int
) -> dict[str, Any]:
    """Up to ``limit`` matches, newest first, older than the position ``before`` (a previous page's
    ``next_before``), as ``GET /api/v1/search`` answers them; ``next_before`` is None on the last
    page. ``room`` (and ``in:``) name a room, or a ``namespace/room`` address."""
    rooms = access.readable_rooms(caller, namespace=ns)
    for wanted in ((room,) if room else ()), query.rooms:
        if wanted:
            rooms = {pk: r for pk, r in rooms.items() if r.name in wanted or r.address in wanted}
    if not rooms:
        return {"results": [], "next_before": None}
    ids = _matching(query, list(rooms), before=before, limit=limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    rows = Message.objects.filter(pk__in=ids, deleted=False).values_list(
        "pk", "room_id", "seq", "sender", "body", "html", "created_at"
    )
    found = {row[0]: row for row in rows}
    results = []
    for pk in ids:
        if pk not in found:
            continue  # deleted since the index was read
        _, room_id, seq, sender, body, html, created_at = found[pk]
        where = rooms[room_id]
        results.append(
            {
                "namespace": where.namespace,
                "room": where.name,
                "id": seq,
                "sender": sender,
                "ts": protocol.format_ts(created_at),
                "message": body,
                "html": html,
                "highlights": highlights(body, query),
            }
        )
    return {"results": results, "next_before": ids[-1] if more else None}


def _matching(query: q.Query, room_ids: list[int], *, before: int | None, limit: int) -> list[int]:
    """The ids (``chat_message.id``) of the newest ``limit`` messages matching ``query`` in these
    rooms, below ``before``: one query on the index."""
    where: list[str] = []
    params: list[Any] = []
    if query.senders:
        where.append(f"d.sender IN ({', '.join(['%s'] * len(query.senders))})")
        params.extend(query.senders)
    for flag in sorted(query.has):
        where.append(f"d.has_{flag} = %s")
        params.append(True)
    if before is not None:
        where.append("d.message_id < %s")
        params.append(before)
    extra = "".join(f" AND {w}" for w in where)
    if connection.vendor == "postgresql":
        return _matching_pg(q.to_tsquery(query), room_ids, extra, params, before=before, limit=limit)
    else:
        sql = (
            "SELECT d.message_id FROM search_fts f JOIN search_searchdoc d ON d.message_id = f.rowid "
            "WHERE search_fts MATCH %s AND d.room_id IN (SELECT value FROM json_each(%s))"
            f"{extra} ORDER BY f.rowid DESC LIMIT %s"
        )
        args = [q.to_fts5(query), json.dumps(room_ids), *params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return [row[0] for row in cursor.fetchall()]


# How many of the newest index rows the first step of a PostgreSQL search reads (docs/search.md).
WINDOW = 20_000


def _matching_pg(
    tsquery: str, room_ids: list[int], extra: str, params: list[Any], *, before: int | None, limit: int
) -> list[int]:
    """PostgreSQL's estimate of how many rows a query matches is what picks its plan, and for a
    phrase or a word in between it is often wrong by tens of times (a GIN bitmap over thousands of
    matches, sorted, where reading the newest rows would have stopped at once). So two steps:

    1. the newest ``WINDOW`` rows (below ``before``), read backwards along the primary key and
       tested one by one: a word found often has its page there (a few milliseconds);
    2. only if that window was full and found too few: the rest (below the window), by the GIN
       index, which then has few matches to fetch (fewer than a page per window's worth of rows).
    """
    below = " AND d.message_id < %s" if before is not None else ""
    at = [before] if before is not None else []
    with connection.cursor() as cursor:
        # Stops at the ``limit``-th match: a common word reads a few hundred rows.
        cursor.execute(
            f"SELECT d.message_id FROM (SELECT d.message_id, d.room_id, d.doc, d.sender, d.has_file, d.has_link "
            f"FROM search_searchdoc d WHERE TRUE{below} ORDER BY d.message_id DESC LIMIT %s) d "
            f"WHERE d.room_id = ANY(%s){extra} AND d.doc @@ %s::tsquery ORDER BY d.message_id DESC LIMIT %s",
            [*at, WINDOW, room_ids, *params, tsquery, limit],
        )
        found: list[int] = [row[0] for row in cursor.fetchall()]
        if len(found) >= limit:
            return found
        # Where the window ended (the primary key alone): none, and it held every row there is.
        cursor.execute(
            f"SELECT d.message_id FROM search_searchdoc d WHERE TRUE{below} ORDER BY d.message_id DESC "
            "OFFSET %s LIMIT 1",
            [*at, WINDOW - 1],
        )
        edge = cursor.fetchone()
        if edge is None:
            return found
        cursor.execute(
            "SELECT d.message_id FROM search_searchdoc d WHERE d.doc @@ %s::tsquery AND d.room_id = ANY(%s)"
            f"{extra} AND d.message_id < %s ORDER BY d.message_id DESC LIMIT %s",
            [tsquery, room_ids, *params, edge[0], limit - len(found)],
        )
        return found + [row[0] for row in cursor.fetchall()]


def dm_partners(*, user_id: int) -> dict[str, str]:
    """The other member of each of the user's direct messages, by the room's name (the search page
    links a result in a DM to ``/dm/<them>/``). Two queries."""
    from chat.models import RoomMember

    mine = RoomMember.objects.filter(user_id=user_id, room__namespace__name=access.DM_NAMESPACE).values_list(
        "room_id", flat=True
    )
    rows = (
        RoomMember.objects.filter(room_id__in=list(mine))
        .exclude(user_id=user_id)
        .values_list("room__name", "user__username")
    )
    return dict(rows)
