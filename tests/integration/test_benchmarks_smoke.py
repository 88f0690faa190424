"""Smoke tests: ``benchmarks/bench_mel.py --quick`` and ``bench_presets.py --quick`` run and print their tables.

Only the contestants the test environment has are timed (melplug, Keras on
the numpy backend, transformers' numpy paths, kaldi-native-fbank, the rfft
bound); peers that are not installed here (torch, librosa, audioflux) are
requested anyway, to check that the scripts report them as unavailable
instead of failing.  No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from melplug import _kernels
from tests._util import ROOT

BENCH = ROOT / "benchmarks" / "bench_mel.py"
BENCH_PRESETS = BENCH.with_name("bench_presets.py")
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
    assert cold["forbidden_imported"] == []  # `import melplug` loads no deep-learning framework
    assert doc["memory"]["growth_bytes"] >= 0 and doc["memory"]["output_bytes"] > 0
    if _installed("matplotlib"):
        assert chart.stat().st_size > 1000


def test_bench_presets_quick_runs_and_prints_tables(tmp_path):
    missing_refs = [m for m in ("transformers", "kaldi_native_fbank", "datasets") if not _installed(m)]
    if missing_refs:
        pytest.skip(f"{', '.join(missing_refs)} not installed: the presets' references are needed")
    out_json = tmp_path / "presets.json"
    cmd = [sys.executable, str(BENCH_PRESETS), "--quick", "--json", str(out_json)]
    # --quick takes ~25 s on an idle 2-core machine (two cold compiles are ~9 s of it)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, cwd=tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    stdout = proc.stdout
    presets = ("whisper", "kaldi", "ast", "w2v-bert", "librosa", "torchaudio", "librosa-mfcc", "kaldi-mfcc", "keras")
    for preset in presets:
        assert f"\n{preset}: " in stdout
    assert "audio s/s" in stdout and "x fastest ref" in stdout and "x rfft bound" in stdout
    assert "End to end" in stdout and "Cold start" in stdout and "Targets set for the presets" in stdout
    # Every timed row's ratios parse: "<name> <kind> <audio s/s> <ms/call> <ratio>x|- <ratio>x|(bound)|-".
    row = re.compile(
        r"^  (\S+)\s+(melplug|numpy/C\+\+|torch|bound)\s+"  # contestant, kind
        r"\d{1,3}(?: \d{3})*(?:\.\d+)?\s+\d+\.\d\d\s+"  # audio s/s ("35 009", "13.5"), ms/call
        r"(\S+)\s+(\S+)\s"  # x fastest ref, x rfft bound
    )
    parsed = {}
    for line in stdout.splitlines():
        m = row.match(line)
        if m:
            for ratio in m.group(3, 4):
                assert ratio in ("-", "(bound)") or float(ratio.rstrip("x")) > 0, line
            parsed.setdefault(m.group(1), []).append(m.group(3))
    assert len(parsed["melplug"]) == len(presets) and len(parsed["rfft-bound"]) == len(presets)
    if not _installed("torch"):
        # 2 whisper paths, kaldi, ast, torchaudio, kaldi-mfcc
        assert stdout.count("unavailable: torch is not installed") == 6

    doc = json.loads(out_json.read_text())
    assert list(doc["presets"]) == list(presets)
    for preset, block in doc["presets"].items():
        rows = block["rows"]
        for name in ("melplug", "rfft-bound"):
            assert rows[name]["ok"], (preset, name, rows[name])
            assert rows[name]["throughput"] > 0 and rows["melplug"]["vs_bound"] > 0
        if preset == "keras" or (preset == "torchaudio" and not _installed("torch")):
            continue  # torchaudio's only reference is torch's
        assert block["fastest_ref"] in ("transformers", "kaldi-native-fbank", "librosa", "torchaudio")
        ref = rows[block["fastest_ref"]]
        assert ref["ok"] and rows["melplug"]["vs_fastest_ref"] > 0
        # the same numbers as the reference on the benchmark's speech-like input (the preset's units;
        # linear power relative to its maximum)
        assert ref["shape"] == rows["melplug"]["shape"] or preset == "ast", (preset, ref["shape"])
        assert ref.get("max_rel_diff", ref["max_abs_diff"]) < 5e-3, (preset, ref)
    e2e = doc["end_to_end"]
    assert e2e["melplug"]["ok"] and e2e["transformers"]["ok"] and e2e["melplug"]["vs_transformers"] > 0
    assert e2e["transformers"]["max_abs_diff"] < 5e-3
    cold = doc["cold_start"]
    assert cold["ok"] and cold["compile"]["float32"]["first_call_s"] > 0
    assert [c["preset"] for c in cold["warm"]["calls"]] == ["kaldi", *(p for p in presets if p != "kaldi")]
    # kaldi's phase-1 kernel loads from the cache it filled and nothing compiles; each later preset compiles at
    # most the kernel of a phase no earlier call ran (its first use in this cache), never phase 1, never twice
    calls = cold["warm"]["calls"]
    assert calls[0]["new_compiles"] == {}, calls[0]
    compiled = [name for c in calls[1:] for name in c["new_compiles"]]
    assert len(compiled) == len(set(compiled)), compiled
    assert all(c["new_compiles"][name]["first_use"] for c in calls[1:] for name in c["new_compiles"])
    finishing = {name for name in _kernels.__all__ if name.startswith("_finish")}  # the kernels after phase 1
    assert {name.rpartition(".")[2] for name in compiled} <= finishing, compiled
    assert all(name.startswith("melplug._kernels.") for name in compiled), compiled
    again = [t for t in doc["targets"] if t["target"] == "kernels compiled again by the presets after kaldi"]
    assert again and again[0]["met"], again
    assert {t["target"].split(":")[0] for t in doc["targets"]} >= {"whisper", "kaldi", "ast", "w2v-bert", "keras"}


def test_bench_long_clip_quick():
    script = BENCH.with_name("bench_long_clip.py")
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--repeats", "1"], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert proc.returncode == 0, proc.stderr
    ratio = float(proc.stdout.split("ratio")[1])
    assert ratio > 0
