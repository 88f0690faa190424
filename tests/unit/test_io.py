"""melplug._io: atomic writes leave the complete new file or the old one, and no temporary file."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from melplug import _io


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writers_round_trip(tmp_path):
    mel = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(np.load(_io.save_npy(tmp_path / "a" / "m.npy", mel)), mel)
    with np.load(_io.save_npz(tmp_path / "m.npz", {"x/y": mel, "z": mel[0]})) as archive:
        assert sorted(archive.files) == ["x/y", "z"]
        np.testing.assert_array_equal(archive["x/y"], mel)
    config = {"num_mel_bins": 40, "window": None, "top_db": 80.0}
    path = _io.save_json(tmp_path / "c.json", config)
    assert json.loads(path.read_text()) == config and path.read_text().endswith("\n")
    assert listing(tmp_path) == ["a", "c.json", "m.npz"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_or_interrupted_write_keeps_the_old_file(tmp_path, error):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"new but incomplete")
        raise error

    with pytest.raises(type(error)):
        _io.atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["x.bin"]  # the temporary file is gone


def test_new_file_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = _io.atomic_write(tmp_path / "p.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_remove_file(tmp_path):
    target = tmp_path / "gone.npy"
    assert _io.remove_file(target) is False
    target.write_bytes(b"x")
    assert _io.remove_file(target) is True and not target.exists()
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    assert _io.remove_file(tmp_path / "link") is True and listing(tmp_path) == []
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        _io.remove_file(tmp_path / "folder")
