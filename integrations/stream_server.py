"""A streaming feature server: many TCP clients send PCM chunks, frames come back as soon as they are final.

A small asyncio server (standard library only, besides NumPy and melplug):
each TCP connection is one stream of 16-bit little-endian mono PCM at the
extractor's sampling rate (16 kHz for ``kaldi``).  Every 10 ms one tick feeds
every stream that received audio since the last tick to the extractor's
:class:`melplug.StreamPool` in one ``pool.accept(ids, chunks)`` call (one
parallel call), and sends each client the frames that became final; when a
client ends its stream the tick adds the right edge (``pool.finish``).  The
frames a client receives, joined, equal the offline ``fx(clip)`` bit for bit
(SPEC §8), with ``clip = pcm.astype(np.float32) / 32768.0``: the server turns
int16 samples into float32 in [-1, 1) by dividing by 32768 (exact in float32).

Protocol (all integers unsigned 32-bit little-endian, one stream per connection):

* client -> server: messages ``length`` + ``length`` bytes of int16 PCM;
  ``length`` must be even (whole samples) and at most 1 MiB.  ``length = 0``
  ends the stream.  Closing the connection without it abandons the stream
  (the server closes it in the pool, no frames follow).
* server -> client: messages ``k`` + ``n`` + ``k * n`` float32 values
  (little-endian, frames-major: ``k`` frames of ``n`` features, whatever the
  extractor's own layout); only non-empty results are sent.  ``k = 0, n = 0``
  is the end marker (after the right edge), then the server closes.
  ``k = 0xFFFFFFFF`` is an error: ``n`` bytes of UTF-8 text follow and the
  server closes that connection (an odd byte count, an oversized chunk, a
  client not reading its frames); it keeps serving the others.

A client may run up to ``--max-ahead-ms`` (default 200 ms) of audio ahead of
the ticks: beyond it the server stops reading from that client until the next
tick (TCP's own flow control then holds the sender back).

Run::

    python integrations/stream_server.py --serve --port 8765            # serve kaldi fbank on localhost:8765
    python integrations/stream_server.py --demo --clients 50 --seconds 1  # server + 50 clients in-process, checked
    python integrations/stream_server.py --demo --clients 200 --seconds 5 --chunk-ms 20 --realtime

``--demo`` starts the server in-process on a free localhost port, connects
``--clients`` asyncio clients that each send their own signal (seeded noise
plus a tone, quantized to int16) in chunks of about ``--chunk-ms`` ms (random
sizes), as fast as the server takes them or, with ``--realtime``, paced in
real time; it checks every client's frames against the offline call, prints
a table and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `melplug` importable from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import melplug  # noqa: E402

HEADER = struct.Struct("<II")  # server -> client: frames k, features n
LENGTH = struct.Struct("<I")  # client -> server: PCM bytes
ERROR = 0xFFFFFFFF
MAX_CHUNK = 1 << 20  # bytes of one client message
MAX_UNSENT = 4 << 20  # bytes of frames waiting for a client that does not read them
SCALE = np.float32(32768.0)  # int16 -> float32 in [-1, 1)


def pcm_to_float(data: bytes) -> np.ndarray:
    """16-bit little-endian PCM bytes -> float32 samples ``int16 / 32768`` (exact)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / SCALE


class Client:
    """One connection's stream: PCM bytes received since the last tick and its state."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.sid: int | None = None  # the pool's stream id, given by the first tick after connecting
        self.parts: list[bytes] = []
        self.pending = 0  # bytes in parts
        self.room = asyncio.Event()  # set by a tick that took parts
        self.done = asyncio.Event()  # set once the stream is finished or dropped
        self.ending = False  # end of stream received
        self.gone = False  # disconnected or dropped: close its stream, send nothing more
        self.released = False  # its stream is closed in the pool

    def send(self, data: bytes) -> None:
        if not self.gone:
            self.writer.write(data)

    def fail(self, why: str) -> None:
        """Send an error message and drop this client (its stream is closed by the next tick)."""
        if not self.gone:
            text = why.encode()
            self.writer.write(HEADER.pack(ERROR, len(text)) + text)
            self.writer.close()
        self.gone = True
        self.done.set()


class StreamServer:
    """Every ``tick_s`` one ``pool.accept`` call for all streams with new audio; frames sent as they come.

    All pool calls run in one worker thread per tick (the event loop keeps
    reading sockets meanwhile); only the tick touches the pool.
    """

    def __init__(self, fx, tick_s: float = 0.01, max_ahead_ms: float = 200.0, num_threads: int | None = None):
        if fx.dtype == "float64":
            raise ValueError("the protocol sends float32 features; use an extractor with dtype float32 or None")
        self.fx = fx
        self.pool = fx.stream_pool(num_threads)  # ValueError for an extractor that cannot stream
        self.tick_s = tick_s
        self.max_ahead = 2 * int(fx.sampling_rate * max_ahead_ms / 1000)  # bytes
        self.frames_major = fx.plan.frames_major
        self.clients: set[Client] = set()
        self.tick_ms: list[float] = []  # the ticks that had work
        self.frames_sent = 0

    def warm_up(self) -> None:
        """One throwaway stream through the pool, so that the first client's tick pays no first-call cost."""
        sid = self.pool.open()
        self.pool.accept([sid], [np.zeros(int(self.fx.sampling_rate), np.float32)])
        self.pool.finish([sid])
        self.pool.close([sid])

    # ----------------------------------------------------------------- connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: read messages into the client's parts until the end marker, an error or EOF."""
        c = Client(writer)
        self.clients.add(c)
        try:
            while not c.gone:
                (length,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
                if length == 0:
                    c.ending = True
                    break
                if length % 2 or length > MAX_CHUNK:
                    c.fail(f"bad chunk of {length} bytes: int16 samples need an even count of at most {MAX_CHUNK}")
                    break
                data = await reader.readexactly(length)
                if c.gone:
                    break
                c.parts.append(data)
                c.pending += length
                while c.pending >= self.max_ahead and not c.gone:  # ahead of the ticks: wait for one
                    c.room.clear()
                    await c.room.wait()
            await c.done.wait()
        except (asyncio.IncompleteReadError, ConnectionError):  # disconnected mid-stream: abandon it
            c.gone = True
        finally:
            c.gone = True
            c.done.set()
            writer.close()  # flushes what is buffered first
            try:
                await asyncio.wait_for(writer.wait_closed(), 5.0)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                writer.transport.abort()  # a client that stopped reading

    # ----------------------------------------------------------------- ticks

    async def run_ticks(self) -> None:
        """Tick every ``tick_s`` (a late tick starts the next period; missed ones are not made up)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.tick_s
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                due = loop.time()
            await self.tick()

    async def tick(self) -> None:
        """Open new streams, feed those with audio, finish the ended ones, close the gone ones."""
        new, feed, chunks, ending, gone = [], [], [], [], []
        for c in list(self.clients):
            if c.gone:
                if c.sid is not None and not c.released:
                    gone.append(c)
                elif c.sid is None or c.released:
                    self.clients.discard(c)
                c.parts, c.pending = [], 0
                c.room.set()
                continue
            if c.sid is None:
                new.append(c)
            if c.parts:
                feed.append(c)
                chunks.append(b"".join(c.parts))
                c.parts, c.pending = [], 0
                c.room.set()
            if c.ending:
                ending.append(c)
        if not (new or feed or ending or gone):
            return
        t0 = time.perf_counter()
        try:
            outs, edges = await asyncio.to_thread(self._work, new, feed, chunks, ending, gone)
        except Exception as exc:  # noqa: BLE001 - drop this tick's clients, keep serving the others
            for c in {*new, *feed, *ending}:
                c.fail(f"server error: {exc}")
            return
        for c, out in zip(feed, outs, strict=True):
            self._send(c, out)
        for c, out in zip(ending, edges, strict=True):
            self._send(c, out)
            c.send(HEADER.pack(0, 0))
            c.gone = True  # nothing more for it; the handler closes the connection
            c.done.set()
        for c in gone:
            self.clients.discard(c)
        self.tick_ms.append(1000.0 * (time.perf_counter() - t0))

    def _work(self, new, feed, chunks, ending, gone):
        """The tick's pool calls (in a worker thread): open, accept, finish, close."""
        for c in new:
            c.sid = self.pool.open()
        outs = self.pool.accept([c.sid for c in feed], [pcm_to_float(b) for b in chunks]) if feed else []
        edges = self.pool.finish([c.sid for c in ending]) if ending else []
        closing = [c for c in (*ending, *gone) if not c.released]
        self.pool.close([c.sid for c in closing])
        for c in closing:
            c.released = True
        return outs, edges

    def _send(self, c: Client, out: np.ndarray) -> None:
        frames = out if self.frames_major else out.T
        k = frames.shape[0]
        if k == 0 or c.gone:
            return
        c.send(HEADER.pack(k, frames.shape[1]) + np.ascontiguousarray(frames, dtype="<f4").tobytes())
        self.frames_sent += k
        if c.writer.transport.get_write_buffer_size() > MAX_UNSENT:
            c.fail(f"more than {MAX_UNSENT} bytes of frames unread: dropped")


async def serve(fx, host: str, port: int, tick_s: float, max_ahead_ms: float, num_threads: int | None) -> None:
    srv = StreamServer(fx, tick_s, max_ahead_ms, num_threads)
    srv.warm_up()
    server = await asyncio.start_server(srv.handle, host, port)
    ticks = asyncio.create_task(srv.run_ticks())
    print(f"serving {fx.sampling_rate:g} Hz int16 PCM -> features on {host}:{port} (tick {tick_s * 1000:g} ms)")
    async with server:
        try:
            await server.serve_forever()
        finally:
            ticks.cancel()


# --------------------------------------------------------------------- demo clients


def client_signal(i: int, seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Client ``i``'s int16 PCM: its own tone plus seeded noise, in [-0.5, 0.5] quantized to int16."""
    rng = np.random.default_rng([seed, i])
    n = int(seconds * rate) + int(rng.integers(0, 400))  # lengths differ: every right edge differs
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * (110.0 + 37.0 * i) * t + rng.uniform(0, 2 * np.pi)) + 0.2 * rng.uniform(-1, 1, n)
    return np.round(x * 32767).astype("<i2")


def chunk_sizes(n: int, chunk_ms: float, rate: int, rng: np.random.Generator) -> list[int]:
    """Random sizes around ``chunk_ms`` (0.5x to 1.5x, at least one sample) that add up to ``n``."""
    m = max(1, int(rate * chunk_ms / 1000))
    sizes = []
    while n > 0:
        size = min(n, int(rng.integers(max(1, m // 2), m + m // 2 + 1)))
        sizes.append(size)
        n -= size
    return sizes


async def run_client(
    host: str, port: int, pcm: np.ndarray, chunk_ms: float, rate: int, realtime: bool, seed: int
) -> list[np.ndarray]:
    """Send ``pcm`` in chunks (then the end marker) while reading frames; the frames received, in order."""
    reader, writer = await asyncio.open_connection(host, port)

    async def send() -> None:
        start, at = time.perf_counter(), 0
        for size in chunk_sizes(len(pcm), chunk_ms, rate, np.random.default_rng([seed, 1])):
            writer.write(LENGTH.pack(2 * size) + pcm[at : at + size].tobytes())
            at += size
            if realtime:
                await asyncio.sleep(max(0.0, start + at / rate - time.perf_counter()))
            await writer.drain()
        writer.write(LENGTH.pack(0))
        await writer.drain()

    sender = asyncio.create_task(send())
    frames = []
    try:
        while True:
            k, n = HEADER.unpack(await reader.readexactly(HEADER.size))
            if k == ERROR:
                raise RuntimeError((await reader.readexactly(n)).decode())
            if k == 0:
                break
            frames.append(np.frombuffer(await reader.readexactly(4 * k * n), dtype="<f4").reshape(k, n))
        await sender
    finally:
        sender.cancel()
        writer.close()
    return frames


async def demo(fx, args) -> dict:
    """Server plus ``args.clients`` clients in-process; what each received, and the server's tick times."""
    clients, seconds, chunk_ms, realtime, seed = args.clients, args.seconds, args.chunk_ms, args.realtime, args.seed
    rate = int(fx.sampling_rate)
    pcms = [client_signal(i, seconds, rate, seed) for i in range(clients)]
    srv = StreamServer(fx, args.tick_ms / 1000, args.max_ahead_ms, args.threads)
    srv.warm_up()
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, backlog=max(100, clients))
    port = server.sockets[0].getsockname()[1]
    ticks = asyncio.create_task(srv.run_ticks())
    try:
        t0 = time.perf_counter()
        got = await asyncio.gather(
            *(run_client("127.0.0.1", port, p, chunk_ms, rate, realtime, seed + i) for i, p in enumerate(pcms))
        )
        wall = time.perf_counter() - t0
    finally:
        ticks.cancel()
        server.close()
        await server.wait_closed()
    exact = []
    for pcm, frames in zip(pcms, got, strict=True):
        ref = fx(pcm.astype(np.float32) / 32768)  # the offline call on the same float32 samples
        ref = ref if fx.plan.frames_major else ref.T
        joined = np.concatenate(frames) if frames else np.zeros((0, ref.shape[1]), np.float32)
        exact.append(joined.dtype == ref.dtype and np.array_equal(joined, ref))
    return {
        "clients": clients,
        "stream_s": sum(len(p) for p in pcms) / rate,
        "wall_s": wall,
        "ticks": len(srv.tick_ms),
        "tick_ms": srv.tick_ms,
        "exact": exact,
        "open_after": len(srv.pool),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--serve", action="store_true", help="run the server until interrupted")
    mode.add_argument("--demo", action="store_true", help="server and clients in-process, checked against fx(clip)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--preset", default="kaldi", help="a causal preset (kaldi, kaldi-mfcc, ...)")
    ap.add_argument("--tick-ms", type=float, default=10.0)
    ap.add_argument("--max-ahead-ms", type=float, default=200.0, help="audio a client may send ahead of the ticks")
    ap.add_argument("--threads", type=int, default=None, help="the pool's threads per tick (default: all)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=1.0, help="seconds of audio per demo client")
    ap.add_argument("--chunk-ms", type=float, default=10.0, help="mean chunk length of the demo clients")
    ap.add_argument("--realtime", action="store_true", help="demo clients send in real time")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    fx = melplug.preset(args.preset)
    try:
        fx.stream_pool()
    except ValueError as exc:
        print(f"preset {args.preset!r}: {exc}")
        return 2
    if args.serve:
        try:
            asyncio.run(serve(fx, args.host, args.port, args.tick_ms / 1000, args.max_ahead_ms, args.threads))
        except KeyboardInterrupt:
            pass
        return 0

    r = asyncio.run(demo(fx, args))
    ms = r["tick_ms"] or [0.0]
    ok = all(r["exact"]) and r["open_after"] == 0
    pace = "real time" if args.realtime else "as fast as taken"
    print(
        f"preset {args.preset}: {r['clients']} clients, chunks ~{args.chunk_ms:g} ms ({pace}), tick {args.tick_ms:g} ms"
    )
    heads = ("clients", 7), ("stream-s", 9), ("wall-s", 7), ("stream-s/s", 10), ("ticks", 6), ("mean-ms", 8)
    print(" ".join(f"{h:>{w}}" for h, w in heads) + f" {'max-ms':>7}  exact")
    print(
        f"{r['clients']:>7} {r['stream_s']:>9.2f} {r['wall_s']:>7.2f} {r['stream_s'] / r['wall_s']:>10.1f} "
        f"{r['ticks']:>6} {np.mean(ms):>8.2f} {np.max(ms):>7.2f}  {'yes' if all(r['exact']) else 'no'}"
    )
    if not ok:
        bad = [i for i, e in enumerate(r["exact"]) if not e]
        print(f"FAILED: clients {bad[:10]} differ from the offline call; streams left open: {r['open_after']}")
        return 1
    print("OK: every client's frames equal the offline fx(clip) bit for bit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
