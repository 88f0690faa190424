"""Smoke tests: integrations/stream_server.py serves many streams exactly, and survives bad clients."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import numpy as np

from tests._util import ROOT


def test_stream_server_demo_50_clients():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "integrations", "stream_server.py"), "--demo", "--clients", "50"]
        + ["--seconds", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "OK: every client's frames equal the offline fx(clip) bit for bit" in proc.stdout, proc.stdout
    row = r"^\s+50\s+5[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[1-9][0-9]*\s+[0-9.]+\s+[0-9.]+\s+yes$"
    assert re.search(row, proc.stdout, re.MULTILINE), proc.stdout


def test_stream_server_bad_input_and_disconnect():
    """An odd byte count gets an error and is dropped, a client vanishing mid-stream is closed; others are exact."""
    import melplug
    from integrations import stream_server as ss

    fx = melplug.preset("kaldi")
    pcm = ss.client_signal(3, 0.5, 16000)

    async def scenario():
        srv = ss.StreamServer(fx)
        server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ticks = asyncio.create_task(srv.run_ticks())

        async def bad():
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ss.LENGTH.pack(2000) + bytes(2000) + ss.LENGTH.pack(3) + b"abc")
            while True:  # frames of the good chunk may come first
                k, n = ss.HEADER.unpack(await reader.readexactly(ss.HEADER.size))
                if k == ss.ERROR:
                    text = (await reader.readexactly(n)).decode()
                    break
                assert k > 0
                await reader.readexactly(4 * k * n)
            assert await reader.read() == b""  # the server closed the connection
            writer.close()
            return text

        async def quitter():
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ss.LENGTH.pack(8000) + bytes(8000) + ss.LENGTH.pack(4000) + bytes(100))  # cut mid-message
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()

        try:
            text, _, frames = await asyncio.gather(
                bad(), quitter(), ss.run_client("127.0.0.1", port, pcm, 7.0, 16000, False, seed=1)
            )
            for _ in range(100):  # the ticks close the streams of the gone clients
                if len(srv.pool) == 0 and not srv.clients:
                    break
                await asyncio.sleep(0.01)
            return text, frames, len(srv.pool), len(srv.clients)
        finally:
            ticks.cancel()
            server.close()
            await server.wait_closed()

    text, frames, still_open, clients = asyncio.run(scenario())
    assert "bad chunk of 3 bytes" in text
    assert still_open == 0 and clients == 0
    assert np.array_equal(np.concatenate(frames), fx(pcm.astype(np.float32) / 32768))
