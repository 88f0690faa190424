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


def test_every_public_name_has_an_api_entry():
    # The site's API reference (mkdocs.yml; built with `mkdocs build --strict` in CI) renders `::: name` entries.
    import melplug

    entries = set(
        re.findall(r"^::: ([\w.]+)$", "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md")), re.M)
    )
    public = {f"melplug.{name}" for name in melplug.__all__ if name != "__version__"}
    public |= {f"melplug.{module}" for module in ("grain", "hf", "ray", "tf")}  # the adapters' modules
    missing = public - entries
    assert not missing, f"no API entry for {sorted(missing)}"
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        assert f"api/{page.name}" in nav, page.name
