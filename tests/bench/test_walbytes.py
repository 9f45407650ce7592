"""bench.walbytes: one database's share of pg_waldump's records (a shared server's WAL has others' too)."""
# ruff: noqa: E501  (pg_waldump lines as it prints them)

from bench.walbytes import database_bytes

DUMP = """\
rmgr: Heap        len (rec/tot):     54/   254, tx:        735, lsn: 0/01A3B2C8, prev 0/01A3B290, desc: INSERT off 5 flags 0x00, blkref #0: rel 1663/16384/16399 blk 0
rmgr: Btree       len (rec/tot):     64/    64, tx:        735, lsn: 0/01A3B3C8, prev 0/01A3B2C8, desc: INSERT_LEAF off 7, blkref #0: rel 1663/16384/16402 blk 1
rmgr: Heap        len (rec/tot):     54/  8246, tx:        736, lsn: 0/01A3B408, prev 0/01A3B3C8, desc: INSERT off 2 flags 0x00, blkref #0: rel 1663/99999/16399 blk 0 FPW
rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/01A3D448, prev 0/01A3B408, desc: COMMIT 2026-12-06 11:00:00.1 UTC
rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/01A3D470, prev 0/01A3D448, desc: COMMIT 2026-12-06 11:00:00.2 UTC
rmgr: Heap2       len (rec/tot):     59/  4159, tx:          0, lsn: 0/01A3D498, prev 0/01A3D470, desc: PRUNE latestRemovedXid 0, blkref #0: rel 1663/16384/16399 blk 3 FPW
rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/01A3E4D8, prev 0/01A3D498, desc: RUNNING_XACTS nextXid 737
pg_waldump: error: error in WAL record at 0/01A3E510: invalid record length at 0/01A3E548: wanted 24, got 0
"""


def test_a_databases_records_and_its_transactions_commits_count_others_do_not():
    total, transactions = database_bytes(DUMP.splitlines(), 16384)
    assert total == 254 + 64 + 34 + 4159  # its insert, index entry, commit; its page pruned (no xid)
    assert transactions == 1


def test_the_other_database_gets_its_own_share():
    assert database_bytes(DUMP.splitlines(), 99999) == (8246 + 34, 1)


def test_nothing_of_an_unknown_database():
    assert database_bytes(DUMP.splitlines(), 1) == (0, 0)
    assert database_bytes([], 16384) == (0, 0)
