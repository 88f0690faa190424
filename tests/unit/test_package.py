"""The package as a whole: its version, a layer per module, and a light ``import melplug``."""

from __future__ import annotations

import importlib.metadata

import pytest

import melplug
from tests._util import run_python


def test_version_comes_from_package_metadata():
    assert melplug.__version__ == importlib.metadata.version("melplug")


@pytest.mark.parametrize(
    "module, layer",
    [
        ("_validate", "Validation layer"),
        ("_config", "Config layer"),
        ("_plan", "Plan layer"),
        ("_driver", "Driver layer"),
        ("_kernels", "Kernel layer"),
        ("_parallel", "Thread layer"),
        ("_jit", "JIT layer"),
        ("core", "Core layer"),
    ],
)
def test_each_module_names_its_layer(module, layer):
    mod = __import__(f"melplug.{module}", fromlist=["_"])
    assert mod.__doc__.startswith(layer)


def test_import_is_light():
    code = """
        import sys, melplug
        heavy = [m for m in ("grain", "datasets", "keras", "jax", "torch", "tensorflow", "matplotlib", "soundfile",
                             "ray")
                 if m in sys.modules]
        assert heavy == [], heavy
        print("ok")
    """
    assert run_python(code).stdout.strip() == "ok"
