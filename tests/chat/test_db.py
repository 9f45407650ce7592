"""chat.db: the database thread (every write of a process, in order, on one thread and connection)
and the group commit on it."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import OperationalError, connection
from django.db.utils import InterfaceError

from chat import db, groupcommit, services
from chat.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def test_calls_run_in_the_order_they_were_made_on_one_thread():
    ran: list[tuple[int, int]] = []

    def note(n: int) -> int:
        ran.append((n, threading.get_ident()))
        return n * n

    futures = [db.call_soon(note, n) for n in range(300)]
    assert await asyncio.gather(*futures) == [n * n for n in range(300)]
    assert [n for n, _ in ran] == list(range(300))
    assert len({thread for _, thread in ran}) == 1
    assert ran[0][1] != threading.get_ident()  # not the event loop's


async def test_an_exception_fails_its_caller_only_and_the_thread_goes_on():
    def fail() -> None:
        raise ValueError("this one")

    first, bad, last = db.call_soon(int, "1"), db.call_soon(fail), db.call_soon(int, "3")
    assert await first == 1
    with pytest.raises(ValueError, match="this one"):
        await bad
    assert await last == 3
    assert await db.call(int, "4") == 4


async def test_a_caller_that_gave_up_leaves_the_others_their_results():
    release = threading.Event()
    first = db.call_soon(release.wait, 10)
    second = db.call_soon(int, "2")
    first.cancel()
    release.set()
    assert await second == 2


async def test_group_commit_batches_store_in_the_order_of_submission():
    """More changes than one transaction takes (MAX_BATCH): two batches, one after the other, and
    every message gets the id of its place in the queue."""
    room = await db.call(services.room_get_or_create, address="in-order")
    count = groupcommit.MAX_BATCH + 44
    outcomes = await asyncio.gather(
        *(
            groupcommit.get_writer().submit(services.Post(room=room, sender="kim", body=str(n), client_id=f"c{n}"))
            for n in range(count)
        )
    )
    assert [o.seq for o in outcomes] == list(range(1, count + 1))

    def bodies() -> list[str]:
        return list(Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True))

    assert await db.call(bodies) == [str(n) for n in range(count)]


async def test_a_batch_that_fails_fails_only_its_senders():
    """The store raises for a batch (here: a room that is gone); its senders get the error, and the
    next batch, on the same thread, is stored."""
    gone = await db.call(services.room_get_or_create, address="gone")
    await db.call(lambda: type(gone).objects.filter(pk=gone.pk).delete())
    room = await db.call(services.room_get_or_create, address="here")
    with pytest.raises(Exception):  # noqa: B017 - whichever the store raises for a missing room
        await groupcommit.get_writer().submit(services.Post(room=gone, sender="kim", body="lost"))
    stored = await groupcommit.get_writer().submit(services.Post(room=room, sender="kim", body="kept"))
    assert stored.created and stored.seq == 1


@pytest.mark.scaled_only
async def test_after_its_connection_dies_the_thread_fails_one_call_then_connects_again():
    """PostgreSQL ends the thread's connection (as a restart or a network cut does): the next call
    fails with the database's error, its connection is closed after it, and the call after that
    connects again, on the same thread."""

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    pid = await db.call(backend_pid)

    def terminate() -> None:  # from another connection (this test's thread's)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        connection.close()

    await asyncio.to_thread(terminate)
    with pytest.raises((OperationalError, InterfaceError)):
        await db.call(backend_pid)
    assert await db.call(backend_pid) != pid
    room = await db.call(services.room_get_or_create, address="after")
    assert (await groupcommit.get_writer().submit(services.Post(room=room, sender="kim", body="x"))).seq == 1


async def test_close_runs_what_is_queued_closes_the_connection_and_a_new_thread_takes_over():
    def wrapper_and_thread() -> tuple[object, threading.Thread]:
        connection.ensure_connection()
        return connection, threading.current_thread()

    wrapper, thread = await db.call(wrapper_and_thread)
    queued = [db.call_soon(int, str(n)) for n in range(20)]
    await asyncio.to_thread(db.close)
    assert await asyncio.gather(*queued) == list(range(20))
    assert wrapper.connection is None  # type: ignore[attr-defined]
    assert not thread.is_alive()
    _, again = await db.call(wrapper_and_thread)
    assert again is not thread and again.is_alive()


async def test_a_server_shutting_down_does_not_wait_but_what_is_queued_is_still_run():
    """The lifespan shutdown's ``close(wait=False)``: it returns at once; the calls queued before it
    are run (and answered) before the thread ends."""
    release = threading.Event()
    first = db.call_soon(release.wait, 10)
    queued = [db.call_soon(int, str(n)) for n in range(5)]
    db.close(wait=False)  # returns while the first call is still under way
    release.set()
    assert await first is True
    assert await asyncio.gather(*queued) == list(range(5))


async def test_a_call_made_from_the_database_thread_is_refused_not_a_deadlock():
    def nested() -> int:
        async def inner() -> int:
            return await db.call(int, "1")

        return asyncio.run(inner())  # a loop of the database thread's own, as async_to_sync makes

    with pytest.raises(RuntimeError, match="wait for itself"):
        await db.call(nested)
    assert await db.call(int, "2") == 2


async def test_a_busy_thread_hands_results_back_without_waiting_for_its_queue_to_empty():
    """A result is not held until the queue is empty (it may never be): after HAND_BACK_EVERY calls
    the thread hands back what it ran, here while a later call is still blocked."""
    gate = threading.Event()
    first = db.call_soon(int, "1")
    quick = [db.call_soon(int, str(n)) for n in range(db.HAND_BACK_EVERY)]
    blocked = db.call_soon(gate.wait, 10)
    try:
        assert await asyncio.wait_for(first, 5) == 1
        assert not blocked.done()
    finally:
        gate.set()
    assert await blocked is True
    assert await asyncio.gather(*quick) == list(range(db.HAND_BACK_EVERY))
