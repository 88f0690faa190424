"""Evidence for melplug's threading design: what each Numba threading layer tolerates.

For each layer (workqueue, omp, tbb) a ``parallel=True`` prange kernel is run in
a fresh subprocess under two pipeline conditions, and so is melplug:

* threads: four Python threads call the same function at once;
* fork:    the parent runs a parallel call, then ``os.fork()``; the child calls again.

    python benchmarks/threading_layers.py           # prints the table
    python benchmarks/threading_layers.py --quick   # the same, smaller inputs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

PRANGE = """
import numba, numpy as np
numba.config.THREADING_LAYER = {layer!r}
@numba.njit(parallel=True)
def kernel(x):
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        out[i] = np.sqrt(np.abs(x[i])).sum()
    return out
def call(x):
    return kernel(x)
"""

MELPLUG = """
import numpy as np, melplug
mel = melplug.MelSpectrogram(fft_length=512, num_mel_bins=40, sequence_stride=160)
def call(x):
    return mel(x, num_threads=2)
"""

THREADS = """
import threading
x = np.random.default_rng(0).standard_normal(({rows}, 16000)).astype(np.float32)
call(x)
errors = []
def work():
    try:
        for _ in range(20):
            call(x)
    except Exception as exc:
        errors.append(repr(exc))
ts = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("OK" if not errors else errors[0])
"""

FORK = """
import os
x = np.random.default_rng(0).standard_normal(({rows}, 16000)).astype(np.float32)
call(x)
pid = os.fork()
if pid == 0:
    call(x)
    os._exit(0)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
print("OK" if code == 0 else f"child exit {{code}}")
"""


def run(setup: str, scenario: str, rows: int) -> str:
    code = textwrap.dedent(setup) + textwrap.dedent(scenario.format(rows=rows))
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return "HANG (300 s)"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines and lines[-1] == "OK":
        return "ok"
    err = (proc.stderr.strip().splitlines() or [""])[-1][:70]
    return f"FAIL (exit {proc.returncode}{'; ' + lines[-1][:40] if lines else ''}{'; ' + err if err else ''})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    args = parser.parse_args(argv)
    rows = 16 if args.quick else 32
    contestants = {f"numba prange, {layer}": PRANGE.format(layer=layer) for layer in ("workqueue", "omp", "tbb")}
    contestants["melplug (nogil kernels + own pool)"] = MELPLUG
    print(f"{'contestant':<38} {'4 Python threads':<40} {'fork after use':<40}")
    results = {}
    for name, setup in contestants.items():
        results[name] = (run(setup, THREADS, rows), run(setup, FORK, rows))
        print(f"{name:<38} {results[name][0]:<40} {results[name][1]:<40}", flush=True)
    return 0 if results["melplug (nogil kernels + own pool)"] == ("ok", "ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
