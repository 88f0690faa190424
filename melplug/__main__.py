"""``python -m melplug``: the ``melplug`` command line (see :mod:`melplug.cli`)."""

from melplug.cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m melplug"))
