"""WAL bytes one PostgreSQL database wrote between two WAL positions, on a server shared with others.

``pg_current_wal_lsn()`` moves with every database of the server (other test runs included), so the
difference of two positions over-counts. ``pg_waldump`` decodes the records in between; a record
belongs to the database when it modifies a block of one of its relations (``rel <tablespace>/<db
oid>/<relfilenode>``), and a transaction's records (its commit record too) belong to it when any of
them does. Their total lengths (``tot``: header, data and full-page images) are the bytes the
database's work added to the WAL. Needs the WAL directory on this machine (the bench's PostgreSQL is
local); where it is not readable, ``None``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import psycopg

WALDUMP_GLOB = "/usr/lib/postgresql/*/bin/pg_waldump"
WAL_DIR_GLOB = "/var/lib/postgresql/*/main/pg_wal"
_RECORD = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+),")
_REL = re.compile(r"rel \d+/(\d+)/\d+")


def database_bytes(lines: Iterable[str], db_oid: int) -> tuple[int, int]:
    """(WAL bytes, transactions) of database ``db_oid`` in ``pg_waldump``'s output ``lines``."""
    records: list[tuple[int, int, bool]] = []  # (total length, xid, touches the database)
    xids: set[int] = set()
    for line in lines:
        got = _RECORD.search(line)
        if got is None:
            continue
        length, xid = int(got.group(1)), int(got.group(2))
        ours = any(int(oid) == db_oid for oid in _REL.findall(line))
        records.append((length, xid, ours))
        if ours and xid:
            xids.add(xid)
    total = sum(length for length, xid, ours in records if ours or (xid and xid in xids))
    return total, len(xids)


def current(db_name: str, admin_url: str) -> tuple[str, int]:
    """The server's current WAL insert position and the database's oid."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        lsn, oid = conn.execute(
            "select pg_current_wal_insert_lsn()::text, oid from pg_database where datname = %s", (db_name,)
        ).fetchone()
    return str(lsn), int(oid)


def between(start_lsn: str, end_lsn: str, db_oid: int) -> tuple[int, int] | None:
    """(WAL bytes, transactions) of database ``db_oid`` between two positions; None without pg_waldump."""
    tools, dirs = sorted(Path("/").glob(WALDUMP_GLOB.lstrip("/"))), sorted(Path("/").glob(WAL_DIR_GLOB.lstrip("/")))
    if not tools or not dirs:
        return None
    proc = subprocess.run(
        [str(tools[-1]), "-p", str(dirs[-1]), "-s", start_lsn, "-e", end_lsn],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if not proc.stdout:
        return None
    return database_bytes(proc.stdout.splitlines(), db_oid)
