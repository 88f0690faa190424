"""What every command shares: exit statuses, the usage error, optional imports, help-text wrapping."""

from __future__ import annotations

import importlib
import textwrap
from types import ModuleType

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: The settings used by ``compute`` are saved under this name in the output folder.
CONFIG_NAME = "melplug.json"


class UsageError(Exception):
    """Invalid arguments: reported argparse-style, exit status 2, before anything is written."""


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional dependency of the ``cli`` extra, or stop with a :class:`UsageError` saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{purpose} needs {module}: pip install 'melplug[cli]'") from None


def paragraphs(*texts: str) -> str:
    """Wrap each paragraph for a raw-description help text (which keeps the examples' layout)."""
    return "\n\n".join(textwrap.fill(text, 78) for text in texts)
