"""The attacks and faults of ``make soak``. Each is an ``async def`` taking a ``Run`` and returning a
``report.Result``; each uses rooms of its own, so they can run in any order on the same servers.

While an attack runs, echo-pingers in other rooms of the attacked process (``latency.Observers``)
time their own messages; a few seconds after it, a fresh observer in each attacked room, on each
process, reads the presence list: any name left is a ghost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.servers import rss_bytes

from . import fuzz
from .clients import DOORS, Tally, abort, close_all, close_code_of, crosstalk, door_path, ghosts, open_ws
from .delivery import Outage, Reader, Sender, check
from .farm import Farm
from .latency import Observers
from .report import P99_FLOOD_MS, P99_HISTORY_MS, Result


@dataclass
class Sizes:
    """How big and how long each scenario is: the full run, or ``quick()`` for tests."""

    attack_s: float = 15.0  # seconds of each attack (fuzz, floods, history abuse, slow readers)
    fuzz_connections: int = 8  # per door, each sending fuzz_rate frames/s
    fuzz_rate: float = 10.0
    history_connections: int = 100  # each asking 10 pages/s
    history_prefill: int = 2000
    storm: int = 1000  # handshakes at once
    slow_readers: int = 5
    slow_wait_s: float = 20.0  # a slow reader must be gone this long after it stopped reading
    senders: int = 4  # per room; two rooms; half on each process
    sender_rate: float = 5.0  # messages/s per sender
    outage_lead_s: float = 5.0
    outage_s: float = 8.0
    outage_tail_s: float = 8.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            attack_s=3.0,
            fuzz_connections=4,
            history_prefill=300,
            storm=300,
            slow_readers=3,
            senders=2,
            outage_lead_s=2.0,
            outage_s=3.0,
            outage_tail_s=3.0,
        )


class Run:
    """The farm, the other rooms' observers and the sizes, shared by every scenario of a run."""

    def __init__(self, farm: Farm, observers: Observers, sizes: Sizes, log: Callable[[str], None] = print) -> None:
        self.farm = farm
        self.observers = observers
        self.sizes = sizes
        self.log = log
        self.rng = random.Random(8)

    def tag(self, what: str) -> str:
        return f"{what}-{uuid.uuid4().hex[:6]}"

    async def measure(self, result: Result, attack: Awaitable[None], rooms: list[str]) -> Result:
        """Run ``attack`` with the observers' window around it, then look for ghosts in ``rooms``."""
        start = time.monotonic()
        await attack
        end = time.monotonic()
        result.window = self.observers.window(start, end)
        result.seconds = end - start
        await asyncio.sleep(1.0)
        result.ghosts = await ghosts(self.farm, rooms)
        if result.ghosts:  # slow, or there for good?
            await asyncio.sleep(20)
            later = await ghosts(self.farm, rooms, within=0)
            result.notes.append(f"{len(later)} of the {len(result.ghosts)} ghosts still there 20 s later")
        broken = await crosstalk(self.farm)
        result.failures += broken
        for dead in self.farm.dead():
            result.failures.append("a server process exited")
            result.notes.append(dead)
        if broken:  # the next scenario gets servers of its own
            await self.observers.stop()
            self.farm.restart()
            self.observers = Observers(self.farm)
            await self.observers.start()
            result.notes.append("servers restarted after this scenario")
        return result


async def drain(ws: ClientConnection, door: str, tally: Tally, where: str = "", *, handshake: bool = False) -> None:
    """Read and tally every frame until the connection closes (``handshake``: a refused one)."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            tally.response(door, raw, where, handshake=handshake)


async def attacker(
    url: str,
    door: str,
    tally: Tally,
    until: float,
    make: Callable[[], fuzz.Frame],
    interval: float | None,
) -> None:
    """One connection at a time sending ``make()`` frames (every ``interval`` s, or flat out) until
    ``until``; when the server closes it, the close is tallied and it reconnects."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        ws, outcome = await open_ws(url)
        tally.handshake(outcome)
        if ws is None:
            await asyncio.sleep(0.2)
            continue
        reader = loop.create_task(drain(ws, door, tally))
        documented: set[int] = {fuzz.BUDGET_CLOSE}
        try:
            while loop.time() < until and not reader.done():
                for _ in range(1 if interval else 20):
                    frame = make()
                    documented |= frame.closes
                    await ws.send(frame.data)
                    tally.frames += 1
                await asyncio.sleep(interval or 0)
        except ConnectionClosed:
            pass
        if not reader.done() and loop.time() >= until:  # time is up and the server has not closed it
            await close_all([ws])
            reader.cancel()
            return
        await asyncio.wait([reader], timeout=3)
        reader.cancel()
        code = close_code_of(None, ws)
        tally.closes[code] += 1
        if code not in documented:
            tally.unexpected[f"{door} closed {code}"] += 1
        abort(ws)
        await asyncio.sleep(0.05)


# --- Fuzz ---------------------------------------------------------------------------------------------


async def hostile_handshake(run: Run, case: fuzz.Handshake, index: int, tally: Tally) -> None:
    """Open a hostile URL: the socket opens (and may be closed with 4400 or 4403) or an HTTP 4xx."""
    ws, outcome = await open_ws(run.farm.url(index, DOORS[case.door].format(case.room) + case.query))
    tally.handshake(outcome)
    if ws is None:
        if not (outcome.startswith("http 4") or outcome == "invalid uri (client)"):
            tally.unexpected[f"handshake {case.label}: {outcome}"] += 1
        return
    reader = asyncio.get_running_loop().create_task(drain(ws, case.door, tally, " (hostile handshake)", handshake=True))
    done, _ = await asyncio.wait([reader], timeout=1.0)
    if done:
        code = close_code_of(None, ws)
        tally.closes[code] += 1
        if code not in (4400, 4403, fuzz.BUDGET_CLOSE):
            tally.unexpected[f"handshake {case.label}: closed {code}"] += 1
    reader.cancel()
    await close_all([ws])


async def scenario_fuzz(run: Run) -> Result:
    """Hostile frames on each of the three doors (and hostile handshake URLs), from both processes."""
    s = run.sizes
    room = run.tag("fuzz")
    result = Result("fuzz: hostile frames, 3 doors")
    tally = result.tally
    rng = run.rng
    handshake_cases = fuzz.hostile_handshakes(rng, room)

    async def attack() -> None:
        until = asyncio.get_running_loop().time() + s.attack_s
        tasks = [
            attacker(
                run.farm.url(i, door_path(door, room, f"?name=fz{door[0]}{i}")),
                door,
                tally,
                until,
                lambda: fuzz.hostile_frame(rng),
                1.0 / s.fuzz_rate,
            )
            for door in DOORS
            for i in range(s.fuzz_connections)
        ]
        gate = asyncio.Semaphore(10)

        async def one(i: int, case: fuzz.Handshake) -> None:
            async with gate:
                await hostile_handshake(run, case, i, tally)

        tasks += [one(i, case) for i, case in enumerate(handshake_cases)]
        await asyncio.gather(*tasks)

    await run.measure(result, attack(), [room, "자유"])
    result.notes.insert(0, f"{len(handshake_cases)} hostile handshakes")
    return result


# --- Floods -------------------------------------------------------------------------------------------


def flood_frames() -> dict[str, Callable[[], fuzz.Frame]]:
    counter = iter(range(10**12))
    return {
        "ping": lambda: fuzz.Frame("ping", '{"type":"ping"}'),
        "typing": lambda: fuzz.Frame("typing", '{"type":"typing"}'),
        "invalid JSON": lambda: fuzz.Frame("invalid json", '{"type":'),
        "unknown type": lambda: fuzz.Frame("unknown type", '{"type":"nope"}'),
        "bad fields": lambda: fuzz.Frame("bad fields", '{"type":"message","message":42}'),
        "binary": lambda: fuzz.Frame("binary", b"\x00\x01\x02\x03"),
        "history": lambda: fuzz.Frame("history", '{"type":"history","limit":100}'),
        "message": lambda: fuzz.Frame("message", f'{{"message":"flood","client_id":"m{next(counter)}"}}'),
    }


def scenario_flood(kind: str) -> Callable[[Run], Awaitable[Result]]:
    async def flood(run: Run) -> Result:
        """One connection sending ``kind`` frames as fast as it can (reconnecting when closed)."""
        room = run.tag("flood")
        result = Result(f"flood: {kind}", p99_target_ms=P99_FLOOD_MS)
        url = run.farm.url(0, door_path("native", room, "?name=flooder"))
        until = asyncio.get_running_loop().time() + run.sizes.attack_s
        await run.measure(result, attacker(url, "native", result.tally, until, flood_frames()[kind], None), [room])
        if not result.tally.closes.get(fuzz.BUDGET_CLOSE):
            # The protocol's answer to a flood is a close with 1008 once past the frame budget.
            result.failures.append(f"the flooding connection was never closed with {fuzz.BUDGET_CLOSE}")
        return result

    flood.__name__ = f"flood_{kind.replace(' ', '_')}"
    return flood


# --- History abuse --------------------------------------------------------------------------------------


async def prefill(run: Run, room: str, count: int) -> int:
    """About ``count`` messages in ``room``, sent by 40 connections within their rate limits."""
    per = max(1, count // 40)
    conns = []
    for i in range(40):
        ws, _ = await open_ws(run.farm.url(i, door_path("native", room, f"?name=fill{i}")))
        if ws is not None:
            conns.append(ws)

    async def fill(i: int, ws: ClientConnection) -> None:
        reader = asyncio.get_running_loop().create_task(drain(ws, "native", Tally()))
        for n in range(per):
            await ws.send(orjson.dumps({"message": f"history {i}-{n} " + "h" * 80, "client_id": f"h{i}-{n}"}).decode())
            if n >= 25:
                await asyncio.sleep(0.11)
        await asyncio.sleep(0.5)
        reader.cancel()

    await asyncio.gather(*(fill(i, ws) for i, ws in enumerate(conns)))
    await close_all(conns)
    return run.farm.last_id(room)


async def scenario_history(run: Run) -> Result:
    """100 connections each asking 10 history pages a second (within their rate limits)."""
    s = run.sizes
    room = run.tag("history")
    result = Result(f"history abuse: {s.history_connections} x 10 pages/s", p99_target_ms=P99_HISTORY_MS)
    last = await prefill(run, room, s.history_prefill)
    rng, tally = run.rng, result.tally
    until = asyncio.get_running_loop().time() + s.attack_s

    def page() -> fuzz.Frame:
        return fuzz.Frame("history", orjson.dumps({"type": "history", "before": rng.randint(2, last + 1)}).decode())

    async def attack() -> None:
        await asyncio.gather(
            *(
                attacker(run.farm.url(0, door_path("native", room, f"?name=r{i}")), "native", tally, until, page, 0.1)
                for i in range(s.history_connections)
            )
        )

    await run.measure(result, attack(), [room])
    result.notes.insert(0, f"{last:,} messages in the room")
    return result


# --- Connection storm -------------------------------------------------------------------------------


async def scenario_storm(run: Run) -> Result:
    """Many handshakes at once on all doors and both processes, then every connection goes at once
    (half with a closing handshake, half dropped)."""
    s = run.sizes
    rooms = [run.tag("storm") for _ in range(10)]
    result = Result(f"connection storm: {s.storm} at once")
    tally = result.tally
    doors = list(DOORS)
    conns: list[ClientConnection] = []

    async def attack() -> None:
        gate = asyncio.Semaphore(200)

        async def one(i: int) -> None:
            async with gate:
                door = doors[i % 3]
                ws, outcome = await open_ws(run.farm.url(i, door_path(door, rooms[i % 10], f"?name=st{i}")))
                tally.handshake(outcome)
                tally.frames += 1
                if ws is not None:
                    conns.append(ws)

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(s.storm)))
        opened = time.monotonic() - started
        result.notes.append(f"{len(conns)} opened in {opened:.1f} s ({len(conns) / opened:,.0f}/s)")
        await asyncio.sleep(1.0)
        for ws in conns:
            if ws.protocol.close_rcvd is not None or ws.protocol.state.name == "CLOSED":
                code = close_code_of(None, ws)
                tally.closes[code] += 1
                tally.unexpected[f"open connection closed {code}"] += 1
        half = len(conns) // 2
        for ws in conns[half:]:
            abort(ws)
        await close_all(conns[:half])

    return await run.measure(result, attack(), rooms)


# --- Slow readers -------------------------------------------------------------------------------------


async def slow_socket(port: int) -> socket.socket:
    """A connected socket with a small receive buffer: a client that stops reading fills up fast."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def scenario_slow(run: Run) -> Result:
    """Clients that stop reading in a busy room: each must be closed with 1013 and leave the room."""
    s = run.sizes
    room = run.tag("slow")
    result = Result(f"slow readers: {s.slow_readers}")
    tally = result.tally
    server = run.farm.servers[0]
    rss_before = rss_bytes(server.ps)
    slow: list[ClientConnection] = []
    for i in range(s.slow_readers):
        url = run.farm.url(0, door_path("native", room, f"?name=slow{i}"))
        ws, outcome = await open_ws(url, sock=await slow_socket(server.port), max_queue=4)
        tally.handshake(outcome)
        if ws is not None:
            slow.append(ws)
    # A watcher that reads: it sees the slow readers leave the presence list.
    watcher, _ = await open_ws(run.farm.url(1, door_path("native", room, "?name=watcher")))
    names = {f"slow{i}" for i in range(len(slow))}
    left_at: dict[str, float] = {}
    stopped = time.monotonic()

    async def watch() -> None:
        nonlocal stopped
        assert watcher is not None
        everyone = False
        with contextlib.suppress(ConnectionClosed):
            async for raw in watcher:
                frame = orjson.loads(raw)
                if frame.get("type") != "presence":
                    continue
                users = set(frame["users"])
                if not everyone:  # the clock starts once every slow reader is in the room
                    everyone = names <= users
                    stopped = time.monotonic()
                    continue
                for name in names - users:
                    left_at.setdefault(name, time.monotonic() - stopped)

    feeders: list[ClientConnection] = []
    sent = 0

    async def feed(i: int, ws: ClientConnection, until: float) -> None:
        nonlocal sent
        reader = asyncio.get_running_loop().create_task(drain(ws, "native", Tally()))
        n = 0
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < until and len(left_at) < len(names):
                n += 1
                await ws.send(orjson.dumps({"message": "s" * 3900, "client_id": f"feed{i}-{n}"}).decode())
                sent += 1
                await asyncio.sleep(0.11)
        reader.cancel()

    async def attack() -> None:
        for i in range(30):
            ws, _ = await open_ws(run.farm.url(1, door_path("native", room, f"?name=feed{i}")))
            if ws is not None:
                feeders.append(ws)
        watching = asyncio.get_running_loop().create_task(watch())
        until = time.monotonic() + s.slow_wait_s
        await asyncio.gather(*(feed(i, ws, until) for i, ws in enumerate(feeders)))
        watching.cancel()
        await close_all([*feeders, *([watcher] if watcher else [])])
        # Now read what the slow readers were sent, up to the close.
        closed = await asyncio.gather(*(_read_to_close(ws) for ws in slow))
        for i, (ws, done) in enumerate(zip(slow, closed, strict=True)):
            if not done:
                result.failures.append(f"slow{i} not closed by the server")
                continue
            code = close_code_of(None, ws)
            tally.closes[code] += 1
            if code != 1013:
                tally.unexpected[f"slow reader closed {code}"] += 1
        for name in sorted(names - set(left_at)):
            result.failures.append(f"{name} still in the room {s.slow_wait_s:.0f} s after it stopped reading")

    await run.measure(result, attack(), [room])
    await close_all(slow)
    if left_at:
        result.notes.append(
            "left the room " + ", ".join(f"{v:.1f}" for v in sorted(left_at.values())) + " s after they stopped reading"
        )
    result.notes.append(f"{sent:,} messages of 3,900 characters sent into the room")
    result.notes.append(f"server RSS {rss_before / 2**20:.0f} -> {rss_bytes(server.ps) / 2**20:.0f} MiB")
    tally.frames = sent
    return result


async def _read_to_close(ws: ClientConnection) -> bool:
    """Read everything buffered; True once the server's close (or the end of the stream) arrives."""
    try:
        async with asyncio.timeout(8):
            while True:
                await ws.recv(decode=False)
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


# --- Outages ------------------------------------------------------------------------------------------


async def probe(run: Run, index: int, room: str) -> str:
    """A new native handshake: "joined" (hello arrived), "closed <code>" (after "error:<code>", if
    one came first), "http <status>", ..."""
    ws, outcome = await open_ws(run.farm.url(index, door_path("native", room, f"?name=probe{index}")))
    if ws is None:
        return outcome
    said = ""
    try:
        async with asyncio.timeout(5):
            while True:
                frame = orjson.loads(await ws.recv())
                if frame.get("type") == "hello":
                    return "joined"
                said = f"{frame.get('type')}:{frame.get('code')} then "
    except ConnectionClosed:
        return f"{said}closed {close_code_of(None, ws)}"
    except TimeoutError:
        return f"{said}no hello in 5 s"
    finally:
        await close_all([ws])


def scenario_outage(backend: str) -> Callable[[Run], Awaitable[Result]]:
    async def outage(run: Run) -> Result:
        """Numbered senders and resuming readers on both processes while ``backend`` goes down and up."""
        s = run.sizes
        farm = run.farm
        down, up = (farm.redis_down, farm.redis_up) if backend == "Redis" else (farm.database_down, farm.database_up)
        rooms = [run.tag(f"outage-{backend.lower()}") for _ in range(2)]
        probe_room = run.tag("probe")
        result = Result(f"{backend} down {s.outage_s:g} s")
        tally = result.tally
        state = Outage()
        senders: list[Sender] = []
        readers: list[Reader] = []
        room_of: dict[int, str] = {}

        def url(i: int, room: str, name: str) -> Callable[[int], str]:
            return lambda after: farm.url(i, door_path("native", room, f"?name={name}&after={after}"))

        for r, room in enumerate(rooms):
            for i in range(4):
                reader = Reader(url=url(i, room, f"reader{r}{i}"), what="reader")
                readers.append(reader)
                room_of[id(reader)] = room
            for i in range(s.senders):
                sender = Sender(url=url(i, room, f"sender{r}{i}"), index=r * 100 + i, rate=s.sender_rate)
                senders.append(sender)
                room_of[id(sender)] = room
        probes: Counter = Counter()
        probes_down: Counter = Counter()

        async def probing() -> None:
            i = 0
            while True:
                i += 1
                outcome = await probe(run, i, probe_room)
                tally.handshake(outcome if outcome.startswith("http") else "ok")
                (probes_down if state.down else probes)[outcome] += 1
                await asyncio.sleep(0.5)

        async def attack() -> None:
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(r.run(tally)) for r in readers]
            await asyncio.sleep(0.5)
            tasks += [loop.create_task(x.run(tally)) for x in senders]
            tasks.append(loop.create_task(probing()))
            await asyncio.sleep(s.outage_lead_s)
            run.log(f"    {backend} down")
            state.down = True
            down()
            await asyncio.sleep(s.outage_s)
            up()
            state.down = False
            run.log(f"    {backend} up")
            await asyncio.sleep(s.outage_tail_s)
            for x in senders:
                x.sending = False
            deadline = time.monotonic() + 20
            while any(x.due for x in senders) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            finals = {room: farm.last_id(room) for room in rooms}
            while time.monotonic() < deadline + 10:
                if all(r.last >= finals[room_of[id(r)]] for r in readers):
                    break
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(x.close() for x in [*readers, *senders]))
            behind = [r for r in readers if r.last < finals[room_of[id(r)]]]
            if behind:
                result.failures.append(f"{len(behind)} readers never caught up with the room")
            unsent = sum(len(x.due) for x in senders)
            if unsent:
                result.notes.append(f"{unsent} messages never acknowledged (not counted as lost)")
            result.notes.append(f"{sum(finals.values()):,} messages stored")

        await run.measure(result, attack(), [*rooms, probe_room])
        verdict = check(senders, readers, lambda x: room_of[id(x)])
        result.acked, result.lost, result.duplicated, result.disorder = (
            verdict.acked,
            verdict.lost,
            verdict.duplicated,
            verdict.disorder,
        )
        tally.frames = sum(x.n + x.resent for x in senders)
        result.notes += verdict.detail[:4]
        result.notes.append(f"{sum(x.resent for x in senders):,} resends")
        refused = sum((x.refused for x in senders), Counter())
        if refused:
            result.failures.append("sends refused: " + ", ".join(f"{k} x{v}" for k, v in refused.items()))
        result.notes.append("probes while up: " + ", ".join(f"{k} x{v}" for k, v in probes.items()))
        result.notes.append("probes while down: " + ", ".join(f"{k} x{v}" for k, v in probes_down.items()))
        allowed_down = (
            {"joined"} if backend == "Redis" else {"joined", "closed 1013", "error:unavailable then closed 1013"}
        )
        for outcome, n in probes_down.items():
            if outcome not in allowed_down:
                tally.unexpected[f"new handshake while {backend} down: {outcome}"] += n
        for outcome, n in probes.items():
            if outcome != "joined":
                tally.unexpected[f"new handshake while {backend} up: {outcome}"] += n
        return result

    outage.__name__ = f"outage_{backend.lower()}"
    return outage


FLOOD_KINDS = list(flood_frames())
SCENARIOS: dict[str, Callable[[Run], Awaitable[Result]]] = {
    "fuzz": scenario_fuzz,
    **{f"flood-{k.replace(' ', '-').lower()}": scenario_flood(k) for k in FLOOD_KINDS},
    "history": scenario_history,
    "storm": scenario_storm,
    "slow": scenario_slow,
    "database": scenario_outage("database"),
    "redis": scenario_outage("Redis"),
}
