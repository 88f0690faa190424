"""The ``melplug`` command line: ``demo``, ``compute`` and ``plot`` (its atomic writes: tests/unit/test_io.py)."""
