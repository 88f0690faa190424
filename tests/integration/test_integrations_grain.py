"""Smoke tests: the Grain integration scripts run end to end with tiny inputs.

Each script runs in its own interpreter, the way a user runs it (as a file and
with ``python -m``); the runs are started together to keep the wall time low.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from tests._util import ROOT

pytest.importorskip("grain", reason="the Grain scripts need Google Grain (melplug[grain])")

TIMEOUT_S = 240

RUNS = {
    # As a file, with a spawned worker process: needs the __main__ guard and picklable records/transforms.
    "pipeline-file-worker": ["integrations/grain_pipeline.py", "--quick", "--workers", "1"],
    "pipeline-module": ["-m", "integrations.grain_pipeline", "--quick", "--mel-after-batch"],
    "multihost-0of2": [
        "integrations/grain_multihost.py",
        "--quick",
        "--print-indices",
        "--shard-index",
        "0",
        "--shard-count",
        "2",
    ],
    "multihost-1of2": [
        "-m",
        "integrations.grain_multihost",
        "--quick",
        "--print-indices",
        "--shard-index",
        "1",
        "--shard-count",
        "2",
    ],
}


@pytest.fixture(scope="module")
def results():
    procs = {
        name: subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, args in RUNS.items()
    }
    out = {}
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
            out[name] = (proc.returncode, stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def _ok(results, name) -> str:
    rc, stdout, stderr = results[name]
    assert rc == 0, f"{name} exited with {rc}\nstdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    return stdout


@pytest.mark.parametrize(
    "name, workers, batch",
    [
        ("pipeline-file-worker", 1, "(4, 80, 101)"),
        ("pipeline-module", 0, "(4, 80, 101)"),
    ],
)
def test_pipeline_runs_and_reports_throughput(results, name, workers, batch):
    stdout = _ok(results, name)
    line = next(line for line in stdout.splitlines() if line.startswith("workers="))
    assert f"workers={workers} " in line
    assert f"elements=16 batch={batch}" in line
    rate = float(re.search(r" elements/s=([0-9.]+)", line).group(1))
    assert rate > 0


def _records(stdout: str) -> dict[int, str]:
    line = next(line for line in stdout.splitlines() if line.startswith("records:"))
    return dict((int(i), v) for i, v in (item.split(":") for item in line.split()[1:]))


def _single_host_sums() -> dict[int, str]:
    """The single-host run, in this process: ShardByJaxProcess is shard 0 of 1 without a JAX cluster."""
    from integrations import grain_multihost

    options = grain_multihost.shard_options(None, None)
    assert (options.shard_index, options.shard_count) == (0, 1)
    loader = grain_multihost.make_loader(grain_multihost.parse_args(["--quick"]), options)
    sums = {}
    for batch in loader:
        for i, row in zip(batch["index"].tolist(), batch["mel"], strict=True):
            sums[int(i)] = repr(float(np.asarray(row, dtype=np.float64).sum()))
    return sums


def test_multihost_shards_are_disjoint_and_cover_the_single_host_run(results):
    shard0 = _records(_ok(results, "multihost-0of2"))
    shard1 = _records(_ok(results, "multihost-1of2"))
    assert "shard 0/2: 8 of 16 records" in results["multihost-0of2"][1]
    assert len(shard0) == len(shard1) == 8
    assert not set(shard0) & set(shard1)
    single = _single_host_sums()
    assert len(single) == 16
    assert {**shard0, **shard1} == single  # same records, same mel (sums printed exactly)
