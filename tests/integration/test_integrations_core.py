"""Smoke tests: the core integration and benchmark scripts run on tiny inputs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests._util import ROOT


def run_script(*args: str, timeout: int = 600) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "numpy"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_keras_compare_quick():
    pytest.importorskip("keras")
    out = run_script("integrations/keras_compare.py", "--quick")
    assert "max |diff| dB" in out and "keras defaults" in out
    worst = float(out.strip().splitlines()[-1].split(":")[1].split()[0])
    assert worst < 0.05


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threading_layers_quick():
    out = run_script("benchmarks/threading_layers.py", "--quick")
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    melplug_line = next(v for k, v in lines.items() if k.startswith("melplug"))
    assert melplug_line.count("ok") == 2
    # the evidence behind the design: workqueue fails the thread test, omp the fork test
    assert "FAIL" in next(v for k, v in lines.items() if "workqueue" in k).split("ok")[0]
    assert "FAIL" in next(v for k, v in lines.items() if "omp" in k)


def test_presets_picture_quick(tmp_path):
    pytest.importorskip("matplotlib", reason="the picture needs matplotlib (melplug[cli])")
    target = tmp_path / "p.png"
    out = run_script("integrations/presets_picture.py", "--quick", "-o", str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shapes = {line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.startswith(("whisper", "kaldi"))}
    assert shapes["whisper"] == ["(80,", "3000)"] and shapes["kaldi"] == ["(98,", "23)"]
