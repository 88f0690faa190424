"""The Python examples in docs/usage.md run, in order, and their assertions hold."""

from __future__ import annotations

import re

import pytest

from tests._util import ROOT

USAGE = ROOT / "docs" / "usage.md"


def test_usage_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("grain")
    pytest.importorskip("datasets")
    blocks = re.findall(r"```python\n(.*?)```", USAGE.read_text(), flags=re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{USAGE.name}[block {i}]", "exec"), namespace)  # noqa: S102
