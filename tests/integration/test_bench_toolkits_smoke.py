"""Smoke test: ``benchmarks/bench_toolkits.py --quick`` runs and prints its table.

melplug and the rfft bound are timed on every preset; the sensevoice reference (funasr_onnx's front end on
kaldi-native-fbank, numpy) always runs; the torch-based references where torch and their toolkit are installed
(else they must be reported as unavailable, not fail the script).  No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from tests._util import ROOT

SCRIPT = ROOT / "benchmarks" / "bench_toolkits.py"
NAMES = ["nemo", "speechbrain-fbank", "wespeaker", "sensevoice", "beats", "eat", "dasheng", "vocos", "bigvgan"]


def test_bench_toolkits_quick_runs_and_prints_table(tmp_path):
    out_json = tmp_path / "toolkits.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "ref clips/s" in proc.stdout and "x rfft bound" in proc.stdout
    for name in NAMES:
        assert f"\n  {name} " in proc.stdout
    doc = json.loads(out_json.read_text())
    assert list(doc["presets"]) == NAMES
    for name, row in doc["presets"].items():
        got = row["contestants"]
        for c in ("melplug", "rfft-bound"):
            assert got[c]["ok"] and got[c]["clips_per_s"] > 0, (name, c, got[c])
        ref = got["reference"]
        if name == "sensevoice" or importlib.util.find_spec("torch") is not None and ref["ok"]:
            assert ref["ok"], (name, ref)
            assert ref["shape"] == got["melplug"]["shape"] and row["max_abs_diff"] < 5e-3, (name, row)
        else:
            assert ref["unavailable"], (name, ref)
