"""Smoke tests: the Ray pipeline script and the Ray benchmark run end to end on tiny inputs (each its own cluster)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests._util import ROOT

pytest.importorskip("ray.data", reason="the Ray scripts need Ray Data (melplug[ray])")
pytest.importorskip("soundfile", reason="the Ray scripts write their audio files with soundfile (melplug[ray])")


def run(path, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local cluster of the script's own
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, f"{path} {args} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_ray_pipeline_quick_kaldi_writes_ragged_parquet_equal_to_numpy_api(tmp_path):
    # kaldi: the output's frame count follows the clip length, so Parquet gets a variable-shaped tensor column
    out = run("integrations/ray_pipeline.py", "--quick", "--preset", "kaldi", "--workdir", str(tmp_path), cwd=tmp_path)
    assert re.search(r"preset 'kaldi'; 2 actor\(s\) x [0-9.]+ CPU of [0-9.]+; batch_size=16", out), out
    ok = r"^OK: 10 rows read back from Parquet \(4 output shape\(s\)\), equal to melplug.preset\('kaldi'\)$"
    assert re.search(ok, out, re.MULTILINE), out
    assert list((tmp_path / "features").glob("*.parquet")), "no Parquet file written"


def test_bench_ray_quick(tmp_path):
    pytest.importorskip("transformers", reason="the benchmark's peer is transformers' WhisperFeatureExtractor")
    report = tmp_path / "ray.json"
    out = run("benchmarks/bench_ray.py", "--quick", "--json", str(report), cwd=tmp_path)
    assert "Per actor" in out and "Engine overhead" in out and "melplug / transformers" in out, out
    doc = json.loads(report.read_text())
    runs = {(p["stage"], p["actors_n"]) for p in doc["pipelines"]}
    assert runs == {(s, n) for s in ("melplug", "transformers") for n in (1, 2)}
    for p in doc["pipelines"]:
        assert p["rows"] == doc["files"] and p["wall_s"] > 0
        if p["stage"] == "melplug":
            for actor in p["actors"]:
                assert actor["compiles"] == 0, actor  # kernels come from the disk cache, never recompiled
                assert actor["threads"] == max(1, int(p["cpus"])), (actor, p["cpus"])
                assert actor["first_batch_s"] > 0
    assert [o["actors"] for o in doc["overhead"]] == [1]  # --quick measures the first pool size only
    assert all(o["stage_s"] > 0 and o["direct_s"] > 0 for o in doc["overhead"])
