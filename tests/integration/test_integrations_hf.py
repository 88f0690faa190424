"""Smoke tests: the Hugging Face example scripts run end to end on tiny inputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests._util import ROOT

pytest.importorskip("datasets", reason="the Hugging Face scripts need datasets (melplug[hf])")

SCRIPTS = os.path.join(ROOT, "integrations")


@pytest.fixture
def env(tmp_path):
    return dict(
        os.environ,
        HF_DATASETS_CACHE=str(tmp_path / "hf-cache"),
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
    )


def run(script, *args, env):
    proc = subprocess.run(
        [sys.executable, os.path.join(SCRIPTS, script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{script} {args} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_hf_pipeline_quick(env, tmp_path):
    out = run("hf_pipeline.py", "--quick", "--layouts", "--cache-dir", str(tmp_path), env=env)
    rates = {}
    for name in ("num_proc=1", "num_proc=2"):
        match = re.search(rf"^{re.escape(name)}\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)x$", out, re.MULTILINE)
        assert match, out
        rates[name] = float(match.group(2))
    assert all(rate > 0 for rate in rates.values())
    assert "Array2D(shape=(None, 80), dtype='float32')" in out
    assert "List(List(Value('float32')), length=80)" in out


def test_hf_pipeline_quick_flac_files(env, tmp_path):
    pytest.importorskip("soundfile", reason="the FLAC source is written and decoded with soundfile (melplug[hf])")
    out = run("hf_pipeline.py", "--quick", "--source", "flac", "--cache-dir", str(tmp_path), env=env)
    assert "8 rows (flac)" in out
    assert re.search(r"^num_proc=2\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+x$", out, re.MULTILINE), out


def test_hf_multinode_ranks_in_separate_processes(env, tmp_path):
    data, mels = str(tmp_path / "clips"), str(tmp_path / "mels")
    out0 = run(
        "hf_multinode.py",
        "--make-data",
        "10",
        "--data-dir",
        data,
        "--rank",
        "0",
        "--world-size",
        "2",
        "--out-dir",
        mels,
        env=env,
    )
    assert "wrote 10 rows" in out0 and "rank 0/2: 5 rows (ids 0..4)" in out0
    out1 = run("hf_multinode.py", "--data-dir", data, "--out-dir", mels, env=dict(env, RANK="1", WORLD_SIZE="2"))
    assert "rank 1/2: 5 rows (ids 5..9)" in out1
    check = run("hf_multinode.py", "--data-dir", data, "--out-dir", mels, "--check", "2", env=env)
    assert "OK: 2 ranks covered 10 rows exactly once, equal to the single-node run" in check


def test_hf_multinode_quick_streaming(env):
    out = run("hf_multinode.py", "--quick", "--streaming", env=env)
    assert "OK: 2 ranks covered 12 rows exactly once" in out


def test_train_on_the_fly_quick(env):
    pytest.importorskip("soxr", reason="resample=True needs soxr (melplug[hf])")
    out = run("train_on_the_fly.py", "--quick", env=env)
    assert "16 FLAC files at 48000 Hz -> 16000 Hz" in out
    assert "accuracy after training: 1.000" in out and "OK: trained on the fly" in out
