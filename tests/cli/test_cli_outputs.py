"""``melplug compute``: nothing in an output ever disagrees with its settings file.

Every output checked here is recomputed independently: the settings file is
loaded with ``MelSpectrogram.from_config`` and applied to the input decoded
with soundfile, and each stored array must equal that.  Regression tests of
three past defects: (a) stale outputs kept after a re-run with other settings,
(b) no settings file after Ctrl-C, (c) broken inputs skipped in silence.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

sf = pytest.importorskip("soundfile", reason="the command line decodes audio with soundfile (melplug[cli])")

import melplug  # noqa: E402
from melplug import cli  # noqa: E402
from tests._util import make_audio  # noqa: E402

SMALL = ["--fft-length", "512", "--sequence-stride", "128", "--num-mel-bins", "40"]
#: Batched (ragged) CLI output vs a direct call on one clip, in dB.
BATCH_TOL = 1e-4


def write(path, data, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate)
    return path


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def expected_from_settings(settings, source):
    """The mel spectrogram the settings file promises for ``source`` (mono mean, float32 decode)."""
    data, rate = sf.read(source, dtype="float32", always_2d=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        layer = melplug.MelSpectrogram.from_config(settings)
    assert rate == layer.sampling_rate
    return layer(np.ascontiguousarray(data.mean(axis=1, dtype=np.float32)))


def assert_npy_folder_consistent(out, inputs):
    """Every .npy below ``out`` equals what ``out/melplug.json`` gives for its input; returns the keys found."""
    settings = json.loads((out / "melplug.json").read_text())
    keys = sorted(p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.npy"))
    for key in keys:
        mel = np.load(out / f"{key}.npy")
        want = expected_from_settings(settings, inputs[key])
        assert mel.dtype == want.dtype and mel.shape == want.shape, key
        np.testing.assert_allclose(mel, want, rtol=0, atol=BATCH_TOL, err_msg=key)
    assert not [p.name for p in out.rglob(".*.tmp")]  # no temporary file left behind
    return keys


@pytest.fixture
def two_files(tmp_path):
    inputs = {
        "a": write(tmp_path / "in" / "a.wav", make_audio((4000,), seed=1)),
        "b": write(tmp_path / "in" / "b.wav", make_audio((3000,), seed=2)),
    }
    return tmp_path / "in", inputs


# --------------------------------------------------------------------------- (a) re-runs


def test_rerun_with_other_settings_is_refused_then_overwrite_leaves_no_stale_output(two_files, tmp_path, capsys):
    folder, inputs = two_files
    out = tmp_path / "out"
    status, _, err = run(["compute", folder, "-o", out, *SMALL], capsys)
    assert status == 0, err
    assert assert_npy_folder_consistent(out, inputs) == ["a", "b"]

    write(inputs["b"], make_audio((1500,), seed=3), rate=8000)  # b now fails without --resample
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    status, _, err = run(["compute", folder, "-o", out, *SMALL, "--num-mel-bins", "64"], capsys)
    assert status == 2
    assert "other settings" in err and "num_mel_bins=40" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # refused before writing anything

    status, _, err = run(["compute", folder, "-o", out, "--overwrite", *SMALL, "--num-mel-bins", "64"], capsys)
    assert status == 1
    assert "b.wav: its sampling rate is 8000 Hz" in err
    assert json.loads((out / "melplug.json").read_text())["num_mel_bins"] == 64
    assert assert_npy_folder_consistent(out, inputs) == ["a"]  # the 40-band b.npy is gone


def test_rerun_with_same_settings_removes_the_output_of_an_input_that_now_fails(two_files, tmp_path, capsys):
    folder, inputs = two_files
    out = tmp_path / "out"
    assert run(["compute", folder, "-o", out, *SMALL], capsys)[0] == 0
    write(inputs["b"], make_audio((1500,), seed=3), rate=8000)
    status, _, err = run(["compute", folder, "-o", out, "--num-threads", "1", *SMALL], capsys)  # threads: same values
    assert status == 1
    assert assert_npy_folder_consistent(out, inputs) == ["a"]
    assert "1 of 2 files failed" in err and "no output" in err


def test_orphan_npy_files_or_unreadable_settings_are_refused(two_files, tmp_path, capsys):
    folder, inputs = two_files
    out = tmp_path / "out"
    out.mkdir()
    np.save(out / "old.npy", np.zeros((3, 3), np.float32))
    status, _, err = run(["compute", folder, "-o", out, *SMALL], capsys)
    assert status == 2 and "1 .npy file that no melplug.json describes" in err
    assert sorted(p.name for p in out.iterdir()) == ["old.npy"]

    (out / "melplug.json").write_text("{broken")
    status, _, err = run(["compute", folder, "-o", out, *SMALL], capsys)
    assert status == 2 and "cannot read the settings" in err

    status, _, err = run(["compute", folder, "-o", out, "--overwrite", *SMALL], capsys)
    assert status == 0, err
    assert assert_npy_folder_consistent(out, inputs) == ["a", "b"]  # old.npy removed


def test_npz_rerun_with_other_settings_and_failures(two_files, tmp_path, capsys):
    folder, inputs = two_files
    target, settings_path = tmp_path / "feats.npz", tmp_path / "feats.json"
    assert run(["compute", folder, "-o", target, "--format", "npz", *SMALL], capsys)[0] == 0
    write(inputs["b"], make_audio((1500,), seed=3), rate=8000)

    status, _, err = run(["compute", folder, "-o", target, "--format", "npz", "--top-db", "60", *SMALL], capsys)
    assert status == 2 and "top_db=80.0" in err

    # Same settings: the archive is rewritten with this run's results only.
    status, _, err = run(["compute", folder, "-o", target, "--format", "npz", *SMALL], capsys)
    assert status == 1
    settings = json.loads(settings_path.read_text())
    with np.load(target) as archive:
        assert archive.files == ["a"]
        np.testing.assert_allclose(archive["a"], expected_from_settings(settings, inputs["a"]), rtol=0, atol=BATCH_TOL)


# --------------------------------------------------------------------------- (b) interrupted runs


def _interrupt_second_batch(monkeypatch):
    """One file per batch, and Ctrl-C during the second batch's computation."""
    monkeypatch.setattr(cli._inputs, "BATCH_FILES", 1)
    original = melplug.MelSpectrogram.__call__
    calls = []

    def interrupted(self, audio, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, audio, **kwargs)

    monkeypatch.setattr(melplug.MelSpectrogram, "__call__", interrupted)
    return calls


def test_interrupted_npy_run_leaves_outputs_described_by_their_settings(two_files, tmp_path, capsys, monkeypatch):
    folder, inputs = two_files
    out = tmp_path / "out"
    calls = _interrupt_second_batch(monkeypatch)
    status, _, err = run(["compute", folder, "-o", out, *SMALL, "--num-mel-bins", "24"], capsys)
    assert status == cli.EXIT_INTERRUPTED and "interrupted" in err
    assert len(calls) == 2
    monkeypatch.undo()
    assert json.loads((out / "melplug.json").read_text())["num_mel_bins"] == 24
    assert assert_npy_folder_consistent(out, inputs) == ["a"]


def test_interrupted_npz_run_leaves_no_undescribed_archive(two_files, tmp_path, capsys, monkeypatch):
    folder, _ = two_files
    _interrupt_second_batch(monkeypatch)
    status, _, _ = run(["compute", folder, "-o", tmp_path / "feats.npz", "--format", "npz", *SMALL], capsys)
    assert status == cli.EXIT_INTERRUPTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.json", "in"]  # settings, and no archive


# --------------------------------------------------------------------------- (c) broken inputs


def test_dangling_symlink_in_a_folder_is_reported(two_files, tmp_path, capsys):
    folder, inputs = two_files
    os.symlink(tmp_path / "gone.wav", folder / "link.wav")
    out = tmp_path / "out"
    status, _, err = run(["compute", folder, "-o", out, *SMALL], capsys)
    assert status == 1
    assert "link.wav: it is a broken symbolic link" in err and "gone.wav" in err
    assert "1 of 3 files failed" in err
    assert assert_npy_folder_consistent(out, inputs) == ["a", "b"]


def test_dangling_symlink_named_explicitly_is_reported(tmp_path, capsys):
    os.symlink(tmp_path / "gone.wav", tmp_path / "link.wav")
    status, _, err = run(["compute", tmp_path / "link.wav", "-o", tmp_path / "out"], capsys)
    assert status == 1 and "link.wav: it is a broken symbolic link" in err


def test_unreadable_folder_is_reported(two_files, tmp_path, capsys, monkeypatch):
    folder, inputs = two_files
    locked = folder / "locked"
    write(locked / "c.wav", make_audio((1000,)))
    scandir = os.scandir

    def refusing(path=None):  # what listing a folder without read permission does (root ignores chmod)
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    status, _, err = run(["compute", folder, "-o", tmp_path / "out", *SMALL], capsys)
    monkeypatch.undo()
    assert status == 1
    assert "locked: cannot search this folder: Permission denied" in err and "1 folder could not be searched" in err
    assert assert_npy_folder_consistent(tmp_path / "out", inputs) == ["a", "b"]
