"""The pages. Each module is a group of them; ``parley/urls.py`` maps their URLs.

- ``rooms``: the room list, a room's page (the live part is the native WebSocket protocol,
  ``static/chat/room/``), guest names, mentions, direct messages, the seed's and the tutorial's
  old URLs.
- ``namespaces``: a namespace's pages: its rooms, members and moderation, invites, audit log and
  settings (docs/namespaces.md).
- ``common``: what both ask: who is calling, the namespace if they may see it, rooms' URLs.
"""
