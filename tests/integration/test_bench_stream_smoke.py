"""Smoke test: ``benchmarks/bench_stream.py --quick`` runs every contestant and reports.

No timing is asserted; every melplug contestant's frames must equal the offline call bit for bit (the script
exits 1 otherwise), and kaldi-native-fbank (a test dependency) must run and agree within float32 rounding.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests._util import ROOT

pytest.importorskip("kaldi_native_fbank")


def test_bench_stream_quick(tmp_path):
    out_json = tmp_path / "stream.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_stream.py"), "--quick", "--json", str(out_json)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    doc = json.loads(out_json.read_text())
    assert set(doc["results"]) == {"knf", "knf-list", "stream", "pool", "pool-list"}
    for name, r in doc["results"].items():
        assert r["ok"], (name, r)
        assert r["stream_s_per_s"] > 0
        assert r["bit_exact"] is (None if name.startswith("knf") else True)
        assert r["max_abs_diff"] < 1e-3
    assert doc["results"]["pool"]["latency"]["ticks"] > 0
    assert "pool tick, 8 streams" in proc.stdout
