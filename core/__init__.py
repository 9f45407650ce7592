"""Parley's bottom layer: what every app imports and that imports no app (``chat``, ``api``,
``accounts`` and the project's wiring in ``parley/`` sit above it).

- ``metrics``: every Prometheus metric, defined once.
- ``logs``: log records with a connection's or a request's id, plain or JSON.
- ``clientaddr``: the client's address and scheme, believed from trusted proxies only.
"""
