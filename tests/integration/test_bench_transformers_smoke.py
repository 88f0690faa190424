"""Smoke test: ``benchmarks/bench_transformers.py --quick`` runs and prints its table.

melplug and the rfft bound are timed on every extractor; the transformers
extractors are timed where they run in this environment (without torch, the
ones that need it must be reported as unavailable, not fail the script).  No
timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import melplug
from melplug._references import REFERENCES
from tests._util import ROOT

SCRIPT = ROOT / "benchmarks" / "bench_transformers.py"
TIMEOUT_S = 300  # --quick takes ~5 s on an idle 2-core machine with a warm Numba cache


def test_bench_transformers_quick_runs_and_prints_table(tmp_path):
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("transformers is needed for the references")
    out_json = tmp_path / "transformers.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, cwd=tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    stdout = proc.stdout
    assert "ref clips/s" in stdout and "melplug clips/s" in stdout and "x rfft bound" in stdout
    names = [p for p in melplug.PRESETS[9:] if p in REFERENCES] + ["whisper", "ast", "w2v-bert"]
    for name in names:
        assert f"\n  {name} " in stdout
    doc = json.loads(out_json.read_text())
    assert list(doc["extractors"]) == names
    torch = importlib.util.find_spec("torch") is not None
    if not torch:
        assert "torch is not installed" in stdout
    timed = 0
    for name, row in doc["extractors"].items():
        got = row["contestants"]
        for c in ("melplug", "rfft-bound"):
            assert got[c]["ok"], (name, c, got[c])
            assert got[c]["clips_per_s"] > 0
        assert row["vs_bound"] > 0
        ref = got["transformers"]
        if not ref["ok"]:
            # only a missing torch excuses a reference
            assert not torch and ref["unavailable"], (name, ref)
            continue
        timed += 1
        assert row["vs_reference"] > 0
        assert ref["shape"] == got["melplug"]["shape"], (name, ref["shape"], got["melplug"]["shape"])
        assert row["max_abs_diff"] < 5e-3, (name, row["max_abs_diff"])
    assert timed >= 1  # some extractors run on transformers' numpy path (whisper, w2v-bert, ...)
