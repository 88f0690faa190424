"""Timing and reporting helpers shared by the benchmark scripts.

Each benchmark runs every contestant in a fresh subprocess of itself (a
*worker*), which prints one line ``MARKER + json`` with its results; the
parent collects them with :func:`run_worker_process`.  A measurement is the
median of timed repeats after warm-up calls (:func:`measure`).

These are script helpers, imported as ``from _timing import ...`` (the
scripts' own directory is first on ``sys.path`` when they run).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

#: Prefix of the one line of JSON a worker prints.
MARKER = "BENCH_JSON "


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def measure(fn, repeats: int, warmup: int, min_time: float) -> dict:
    """Median seconds per call over ``repeats`` repeats, after ``warmup`` calls.

    Each repeat runs the call ``inner`` times (calibrated on one more untimed
    call, a second warm-up, so that a repeat lasts about ``min_time``) and
    records the mean time per call.
    """
    out = None
    for _ in range(max(1, warmup)):
        out = fn()
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    inner = max(1, math.ceil(min_time / max(one, 1e-9))) if min_time > 0 else 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return {"seconds": statistics.median(times), "times": times, "inner": inner, "out": out}


def error_text(exc: BaseException) -> str:
    """The first line of ``exc``'s message, with its type, at most 200 characters."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:200]


def run_worker_process(script: str, argv: list[str], env_extra: dict, timeout: float) -> dict:
    """Run ``script argv`` in a fresh Python and return the JSON of its ``MARKER`` line (or ``{"_error": ...}``)."""
    env = dict(os.environ)
    env.update(env_extra)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [sys.executable, os.path.abspath(script), *argv]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"_error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"_error": f"worker exited {proc.returncode}: {tail[0][:200]}"}


def machine_info(versioned) -> dict:
    """CPU, cores, Python, date, load average and the versions of the ``versioned`` distributions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in versioned:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": cores(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_at_start": load,
        "versions": versions,
    }


def print_machine(meta: dict, command: str) -> None:
    """The machine, versions and command lines of a report header."""
    load = meta["loadavg_at_start"]
    load_text = f"; load average at start {load[0]:.2f}" if load else ""
    print(
        f"machine: {meta['cpu']}, {meta['cores']} cores usable; Python {meta['python']} on {meta['platform']}"
        f"{load_text}"
    )
    vers = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    missing = ", ".join(k for k, v in meta["versions"].items() if not v)
    print(f"versions: {vers}" + (f" (not installed: {missing})" if missing else ""))
    print(f"command: {command}")


def fmt_num(v: float) -> str:
    """``v`` with 3-4 significant digits, thousands separated by a space."""
    if v >= 100:
        return f"{v:,.0f}".replace(",", " ")
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def parse_list(text: str, allowed, what: str) -> list[str]:
    """A comma-separated option's items, each one of ``allowed`` (else exit naming ``--what``)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise SystemExit(f"--{what}={text!r} is invalid: choose from {', '.join(allowed)}")
    return items
