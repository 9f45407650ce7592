"""Parley's terminal client: ``parley login|logout|chat|dm|send|tail`` (docs/terminal.md).

A client of the server's public doors only (the REST API and the native WebSocket door with a
personal token): it imports nothing of the server, so it installs and runs without Django.
"""
