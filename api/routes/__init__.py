"""The routes of /api/v1. Thin: parse, resolve what the caller may see (``chat.access``), call
chat.actions / chat.moderation / chat.namespaces / chat.selectors (or accounts.tokens), shape the
answer. Refusals are raised (ProtocolError, ApiError) and answered by ``api.errors``.

- ``tokens``: ``/tokens``, ``/me``
- ``rooms``: ``/rooms/...``, ``/ns/<ns>/rooms/...`` (list, create, messages), ``/dm/...``
- ``namespaces``: ``/ns``, ``/ns/<ns>`` and its members, invites, join, room members, kicks,
  mutes, bans, audit
- ``uploads``: ``.../uploads`` (files) and ``.../notifications`` (a room's notification level)
- ``search``: ``/search`` (search.selectors)
- ``bots``: ``/ns/<ns>/bots`` (bot accounts); ``hooks``: ``/ns/<ns>/hooks/...`` (webhooks)
- ``common``: the caller, the access checks, the write budget, the answers
"""

from __future__ import annotations

from ninja import Router

from api.routes import bots, hooks, namespaces, rooms, search, tokens, uploads

router = Router()
for part in (tokens, rooms, namespaces, uploads, search, bots, hooks):
    router.add_router("", part.router)
