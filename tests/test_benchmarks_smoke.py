"""Smoke test: ``benchmarks/bench_mel.py --quick`` runs and prints its table.

Only the contestants the test environment has are timed (melplug, Keras on
the numpy backend, the rfft bound); peers that are not installed here (torch,
librosa, audioflux) are requested anyway, to check that the script reports
them as unavailable instead of failing.  No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mel.py"
TIMEOUT_S = 300  # --quick takes ~30 s on an idle 2-core machine; most of it is the cold-compile measurement


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_bench_quick_runs_and_prints_table(tmp_path):
    if not _installed("keras"):
        pytest.skip("keras is needed for the keras-numpy peer")
    missing = [m for m in ("torch", "librosa", "audioflux") if not _installed(m)]
    contestants = ["melplug", "keras-numpy", "rfft-bound", *missing]
    out_json = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH), "--quick", "--contestants", ",".join(contestants), "--json", str(out_json)]
    chart = tmp_path / "bench.png"
    if _installed("matplotlib"):
        cmd += ["--chart", str(chart)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, cwd=tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    stdout = proc.stdout
    assert "audio s/s" in stdout and "x fastest peer" in stdout and "x rfft bound" in stdout
    assert "latency us" in stdout
    for w in "ABCD":
        assert f"\n{w}: " in stdout
    assert "Cold start" in stdout and "Memory" in stdout
    for m in missing:
        assert f"{m:<12} unavailable: " in stdout

    doc = json.loads(out_json.read_text())
    assert set(doc["workloads"]) == set("ABCD")
    for w, block in doc["workloads"].items():
        rows = block["rows"]
        for c in ("melplug", "keras-numpy", "rfft-bound"):
            assert rows[c]["ok"], (w, c, rows[c])
            assert rows[c]["seconds"] > 0 and rows[c]["throughput"] > 0
        assert block["fastest_peer"] == "keras-numpy"
        assert rows["melplug"]["shape"] == rows["keras-numpy"]["shape"]
        # melplug and Keras compute the same numbers (both float32).
        assert rows["keras-numpy"]["max_abs_db_diff"] < 0.05, (w, rows["keras-numpy"])
        for m in missing:
            assert not rows[m]["ok"] and rows[m]["unavailable"]
    cold = doc["cold_start"]
    assert cold["ok"] and cold["cold"]["first_call_s"] > 0 and cold["warm_first_call_s"] > 0
    assert cold["forbidden_imported"] == []  # SPEC: `import melplug` loads no framework
    assert doc["memory"]["growth_bytes"] >= 0 and doc["memory"]["output_bytes"] > 0
    if _installed("matplotlib"):
        assert chart.stat().st_size > 1000
