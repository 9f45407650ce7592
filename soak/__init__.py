"""``make soak``: Parley under hostile clients and failing infrastructure, measured (docs/reliability.md)."""
