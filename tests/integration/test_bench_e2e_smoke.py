"""Smoke test: ``benchmarks/bench_e2e.py --quick`` runs its three workloads (map, on the fly, Ray) and reports.

No timing is asserted; every melplug contestant must run, and transformers' where it is installed (the test
extra installs it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests._util import ROOT

pytest.importorskip("datasets")
pytest.importorskip("ray")
pytest.importorskip("soxr")


def test_bench_e2e_quick(tmp_path):
    out_json = tmp_path / "e2e.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_e2e.py"), "--quick", "--json", str(out_json)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    doc = json.loads(out_json.read_text())
    assert set(doc["results"]) == {"map", "fly", "ray"}
    for workload, got in doc["results"].items():
        for contestant, r in got.items():
            assert r["ok"], (workload, contestant, r)
            assert r["rows"] == 4 and r["seconds"] > 0
    assert "steps alone: decode" in proc.stdout and "the floor's time" in proc.stdout
