"""The ``melplug`` command line, on real audio files written by soundfile.

Most tests call ``melplug.cli.main`` in-process (fast); two smoke tests run the
installed module in a subprocess.  Outputs are compared with
``melplug.MelSpectrogram`` called directly on the same decoded audio.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest

import melplug
from melplug import cli
from tests._util import KERAS_DB_TOL, make_audio

sf = pytest.importorskip("soundfile", reason="the command line decodes audio with soundfile (melplug[cli])")

#: Batched (ragged) CLI output vs a direct call on one clip, in dB.
BATCH_TOL = 1e-4
SMALL = ["--fft-length", "512", "--sequence-stride", "128", "--num-mel-bins", "40"]
SMALL_KW = dict(fft_length=512, sequence_stride=128, num_mel_bins=40)


def write(path, data, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate)
    return path


def decoded(path):
    """The file as the CLI decodes it: float32, (samples, channels)."""
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    return data


def direct(audio, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return melplug.MelSpectrogram(**kwargs)(np.ascontiguousarray(audio))


def assert_mel_equal(actual, expected, tol=BATCH_TOL):
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol)


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def tree(tmp_path):
    """data/{a.wav (mono), sub/b.flac (stereo), sub/deep/c.wav (stereo), notes.txt, .hidden/x.wav}."""
    root = tmp_path / "data"
    stereo = np.stack([make_audio((6000,), seed=1), 0.5 * make_audio((6000,), seed=2)], axis=1)
    files = {
        "a": write(root / "a.wav", make_audio((8000,), seed=0)),
        "sub/b": write(root / "sub" / "b.flac", stereo),
        "sub/deep/c": write(root / "sub" / "deep" / "c.wav", stereo[:3001]),
    }
    (root / "notes.txt").write_text("not audio")
    write(root / ".hidden" / "x.wav", make_audio((1000,)))
    return root, files


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


# --------------------------------------------------------------------------- help and smoke


@pytest.mark.parametrize("command", [[], ["demo"], ["compute"], ["plot"]])
def test_help(command, capsys):
    status, out, _ = run([*command, "--help"], capsys)
    assert status == 0
    assert out.startswith(f"usage: melplug {' '.join(command)}".rstrip())
    if command == ["compute"]:
        for flag in ("--fft-length", "--config", "--channels", "--resample", "--format", "--top-db"):
            assert flag in out


def test_flag_help_takes_defaults_from_keras_defaults(capsys, monkeypatch):
    import re

    from melplug.core import KERAS_DEFAULTS

    monkeypatch.setitem(KERAS_DEFAULTS, "fft_length", 4096)  # the help follows the one home of the defaults
    monkeypatch.setitem(KERAS_DEFAULTS, "top_db", 55.5)
    status, out, _ = run(["compute", "--help"], capsys)
    assert status == 0
    text = " ".join(out.split())
    text = text[text.index("mel spectrogram settings:") :]
    flags = ["--" + key.replace("_", "-") for key in KERAS_DEFAULTS] + ["--top-db-scope"]
    where = [re.search(rf" {flag}[ ,]", text).start() for flag in flags]  # listed in Keras' order
    assert where == sorted(where)
    for (key, value), lo, hi in zip(KERAS_DEFAULTS.items(), where, where[1:], strict=False):
        shown = "none" if value is None else "on" if value is True else str(value)
        assert f"(default: {shown})" in text[lo:hi], (key, text[lo:hi])
    assert "FFT size (default: 4096)" in text and "(default: 55.5)" in text


def test_version_and_missing_command(capsys):
    status, out, _ = run(["--version"], capsys)
    assert (status, out.strip()) == (0, f"melplug {melplug.__version__}")
    status, _, err = run([], capsys)
    assert status == 2
    assert "usage: melplug" in err


def test_python_m_melplug_subprocess():
    proc = subprocess.run([sys.executable, "-m", "melplug", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m melplug")
    assert "compute" in proc.stdout and "plot" in proc.stdout


def test_imports_stay_light():
    code = (
        "import sys, melplug, melplug.cli, melplug.plot; "
        "heavy = [m for m in ('matplotlib', 'soundfile', 'soxr', 'tqdm') if m in sys.modules]; "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --------------------------------------------------------------------------- compute


def test_compute_folder_mirrors_tree(tree, tmp_path, capsys):
    root, files = tree
    out = tmp_path / "mels"
    status, stdout, err = run(["compute", root, "-o", out], capsys)
    assert status == 0, err
    assert "wrote 3 mel spectrograms" in stdout
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.npy", "melplug.json", "sub/b.npy", "sub/deep/c.npy"]  # no .txt, no hidden, no temp
    for key, source in files.items():
        mel = np.load(out / f"{key}.npy")
        expected = direct(decoded(source).mean(axis=1))  # default --channels mean
        assert mel.shape == (128, 1 + len(decoded(source)) // 512)
        assert_mel_equal(mel, expected)
    config = json.loads((out / "melplug.json").read_text())
    assert config == melplug.MelSpectrogram().get_config()


def test_compute_explicit_files_common_root(tmp_path, capsys):
    a = write(tmp_path / "x" / "a.wav", make_audio((3000,)))
    b = write(tmp_path / "y" / "b.flac", make_audio((2000,), seed=3))
    out = tmp_path / "out"
    status, _, err = run(["compute", a, b, "-o", out, *SMALL], capsys)
    assert status == 0, err
    assert_mel_equal(np.load(out / "x" / "a.npy"), direct(decoded(a)[:, 0], **SMALL_KW))
    assert_mel_equal(np.load(out / "y" / "b.npy"), direct(decoded(b)[:, 0], **SMALL_KW))


def test_compute_name_collision_is_usage_error(tmp_path, capsys):
    write(tmp_path / "d" / "a.wav", make_audio((1000,)))
    write(tmp_path / "d" / "a.flac", make_audio((1000,)))
    status, _, err = run(["compute", tmp_path / "d", "-o", tmp_path / "out"], capsys)
    assert status == 2
    assert "a.flac" in err and "a.wav" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("channels", ["first", "all"])
def test_compute_channels(channels, tree, tmp_path, capsys):
    root, files = tree
    out = tmp_path / "out"
    status, _, err = run(["compute", files["sub/b"], "-o", out, "--channels", channels, *SMALL], capsys)
    assert status == 0, err
    mel = np.load(out / "b.npy")
    data = decoded(files["sub/b"])
    if channels == "first":
        assert_mel_equal(mel, direct(data[:, 0], **SMALL_KW))
    else:
        assert mel.shape[0] == 2
        assert_mel_equal(mel, direct(data.T, **SMALL_KW))


def test_compute_npz(tree, tmp_path, capsys):
    root, files = tree
    status, _, err = run(["compute", root, "-o", tmp_path / "feats", "--format", "npz", *SMALL], capsys)
    assert status == 0, err
    assert (tmp_path / "feats.json").exists()
    with np.load(tmp_path / "feats.npz") as archive:
        assert sorted(archive.files) == sorted(files)
        for key, source in files.items():
            assert_mel_equal(archive[key], direct(decoded(source).mean(axis=1), **SMALL_KW))


def test_compute_batches_through_ragged_path(tmp_path, capsys, monkeypatch):
    lengths = [700, 5000, 1200, 3333, 16000]
    for i, n in enumerate(lengths):
        write(tmp_path / "in" / f"{i}.wav", make_audio((n,), seed=i))
    calls = []
    original = melplug.MelSpectrogram.__call__

    def spy(self, audio, **kwargs):
        calls.append([np.shape(clip) for clip in audio])
        return original(self, audio, **kwargs)

    monkeypatch.setattr(melplug.MelSpectrogram, "__call__", spy)
    monkeypatch.setattr(cli._inputs, "BATCH_FILES", 2)
    status, _, err = run(["compute", tmp_path / "in", "-o", tmp_path / "out", *SMALL], capsys)
    assert status == 0, err
    assert calls == [[(700,), (5000,)], [(1200,), (3333,)], [(16000,)]]  # one list call per batch
    monkeypatch.undo()
    for i, n in enumerate(lengths):
        mel = np.load(tmp_path / "out" / f"{i}.npy")
        assert mel.shape == (40, 1 + n // 128)
        assert_mel_equal(mel, direct(decoded(tmp_path / "in" / f"{i}.wav")[:, 0], **SMALL_KW))


def test_compute_corrupt_file_reported_and_skipped(tree, tmp_path, capsys):
    root, files = tree
    (root / "sub" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (root / "empty.flac").write_bytes(b"")
    write(root / "silent.wav", np.zeros(0, dtype=np.float32))
    nan = make_audio((2000,))
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, 16000, subtype="FLOAT")
    out = tmp_path / "out"
    status, _, err = run(["compute", root, "-o", out, *SMALL], capsys)
    assert status == 1
    assert "broken.wav: cannot read it as audio" in err
    assert "empty.flac: cannot read it as audio" in err
    assert "silent.wav: it holds no audio samples" in err
    assert "nan.wav: it contains NaN or Inf samples" in err
    assert "4 of 7 files failed" in err
    assert not (out / "sub" / "broken.npy").exists()
    for key in files:
        assert (out / f"{key}.npy").exists()


def test_compute_wrong_rate(tmp_path, capsys):
    ok = write(tmp_path / "in" / "ok.wav", make_audio((4000,)))
    fast = write(tmp_path / "in" / "fast.wav", make_audio((4410,), seed=5), rate=44100)
    out = tmp_path / "out"
    status, _, err = run(["compute", tmp_path / "in", "-o", out, *SMALL], capsys)
    assert status == 1
    assert "fast.wav" in err and "44100" in err and "--resample" in err
    assert (out / "ok.npy").exists() and not (out / "fast.npy").exists()

    soxr = pytest.importorskip("soxr")
    status, _, err = run(["compute", tmp_path / "in", "-o", out, "--resample", *SMALL], capsys)
    assert status == 0, err
    resampled = soxr.resample(decoded(fast)[:, 0], 44100, 16000)
    assert resampled.shape == (1600,)
    assert_mel_equal(np.load(out / "fast.npy"), direct(resampled, **SMALL_KW))
    assert_mel_equal(np.load(out / "ok.npy"), direct(decoded(ok)[:, 0], **SMALL_KW))


def test_compute_keras_config_file(keras, tmp_path, capsys):
    layer = keras.layers.MelSpectrogram(
        num_mel_bins=48,
        fft_length=400,
        sequence_stride=100,
        sampling_rate=8000,
        min_freq=60.0,
        max_freq=3800.0,
        top_db=60.0,
    )
    config_path = tmp_path / "keras_layer.json"
    config_path.write_text(json.dumps(layer.get_config()))
    source = write(tmp_path / "in" / "clip.wav", make_audio((4000,)), rate=8000)
    audio = decoded(source)[:, 0]
    out = tmp_path / "out"

    status, _, err = run(["compute", source, "-o", out, "--config", config_path], capsys)
    assert status == 0, err
    mel = np.load(out / "clip.npy")
    expected = melplug.MelSpectrogram.from_config(layer.get_config())(audio)
    assert_mel_equal(mel, expected)
    keras_mel = np.asarray(layer(audio[None, :]))[0]  # Keras itself, end to end
    assert mel.shape == keras_mel.shape == (48, 41)
    np.testing.assert_allclose(mel, keras_mel, rtol=0, atol=KERAS_DB_TOL)

    # An explicit flag overrides the file (other settings: the previous output is cleared with --overwrite).
    argv = ["compute", source, "-o", out, "--config", config_path, "--num-mel-bins", "32", "--overwrite"]
    status, _, err = run(argv, capsys)
    assert status == 0, err
    config = dict(layer.get_config(), num_mel_bins=32)
    assert_mel_equal(np.load(out / "clip.npy"), melplug.MelSpectrogram.from_config(config)(audio))
    assert json.loads((out / "melplug.json").read_text())["num_mel_bins"] == 32


def test_compute_flags_match_direct_call(tmp_path, capsys):
    source = write(tmp_path / "c.flac", make_audio((5000,)))
    flags = [
        "--fft-length",
        "401",
        "--sequence-length",
        "300",
        "--window",
        "hamming",
        "--sequence-stride",
        "200",
        "--num-mel-bins",
        "24",
        "--min-freq",
        "0",
        "--max-freq",
        "7000",
        "--top-db",
        "none",
        "--mag-exp",
        "1",
        "--min-power",
        "1e-6",
        "--ref-power",
        "2",
        "--dtype",
        "float64",
        "--num-threads",
        "1",
    ]
    kwargs = dict(
        fft_length=401,
        sequence_length=300,
        window="hamming",
        sequence_stride=200,
        num_mel_bins=24,
        min_freq=0.0,
        max_freq=7000,
        top_db=None,
        mag_exp=1.0,
        min_power=1e-6,
        ref_power=2.0,
        dtype="float64",
    )
    status, _, err = run(["compute", source, "-o", tmp_path / "out", *flags], capsys)
    assert status == 0, err
    data, _ = sf.read(source, dtype="float64")
    assert_mel_equal(np.load(tmp_path / "out" / "c.npy"), direct(data, **kwargs), tol=1e-9)

    status, _, err = run(["compute", source, "-o", tmp_path / "out2", "--no-power-to-db", *SMALL], capsys)
    assert status == 0, err
    assert_mel_equal(
        np.load(tmp_path / "out2" / "c.npy"), direct(data.astype(np.float32), power_to_db=False, **SMALL_KW)
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--fft-length", "0"], "fft_length=0"),
        (["--top-db", "-3"], "top_db"),
        (["--min-freq", "9000"], "max_freq"),
        (["--window", "kaiser"], "--window"),
        (["--fft-length", "big"], "--fft-length"),
        (["--format", "wav"], "--format"),
        (["--config", "missing.json"], "missing.json"),
    ],
)
def test_compute_bad_arguments(argv, message, tree, tmp_path, capsys):
    root, _ = tree
    status, _, err = run(["compute", root, "-o", tmp_path / "out", *argv], capsys)
    assert status == 2
    assert "error:" in err and message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content, message", [("{not json", "not valid JSON"), ('{"fft_size": 512}', "fft_size"), ("[1, 2]", "JSON object")]
)
def test_compute_bad_config_file(content, message, tree, tmp_path, capsys):
    root, _ = tree
    config = tmp_path / "bad.json"
    config.write_text(content)
    status, _, err = run(["compute", root, "-o", tmp_path / "out", "--config", config], capsys)
    assert status == 2
    assert message in err


def test_compute_missing_path_and_empty_folder(tmp_path, capsys):
    status, _, err = run(["compute", tmp_path / "nowhere", "-o", tmp_path / "out"], capsys)
    assert status == 2 and "nowhere" in err
    (tmp_path / "empty").mkdir()
    status, _, err = run(["compute", tmp_path / "empty", "-o", tmp_path / "out"], capsys)
    assert status == 1 and "no audio files" in err


def test_compute_failed_write_leaves_nothing(tree, tmp_path, capsys, monkeypatch):
    root, files = tree
    out = tmp_path / "out"

    def broken_save(f, array, **kwargs):
        f.write(b"\x93NUMPY half a header")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", broken_save)
    status, _, err = run(["compute", files["a"], "-o", out, *SMALL], capsys)
    assert status == 1
    assert "No space left on device" in err
    assert [p.name for p in out.iterdir()] == ["melplug.json"]  # neither a.npy nor its temporary file


def test_compute_progress_bar(tree, tmp_path, capsys):
    root, _ = tree
    status, _, err = run(["compute", root, "-o", tmp_path / "out", "--progress", *SMALL], capsys)
    assert status == 0
    assert "100%" in err and "3/3 files" in err  # tqdm's bar, drawn at once with --progress
    status, out, err = run(["compute", root, "-o", tmp_path / "out", "--quiet", *SMALL], capsys)
    assert (status, out, err) == (0, "", "")
    (root / "bad.wav").write_bytes(b"nonsense")
    status, _, err = run(["compute", root, "-o", tmp_path / "out", "--progress", *SMALL], capsys)
    assert status == 1
    report = next(line for line in err.splitlines() if "bad.wav" in line)
    assert report.startswith("melplug: ") and "cannot read it as audio" in report  # a line of its own
    assert "4/4 files" in err and "1 failed" in err


def test_missing_optional_dependencies_are_usage_errors(tree, tmp_path, capsys, monkeypatch):
    root, _ = tree
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "soxr", None)
    for flag, needs in (("--progress", "--progress needs tqdm"), ("--resample", "--resample needs soxr")):
        status, _, err = run(["compute", root, "-o", tmp_path / "out", flag], capsys)
        assert status == 2 and needs in err and "pip install 'melplug[cli]'" in err
        assert not (tmp_path / "out").exists()
    status, _, err = run(["compute", root, "-o", tmp_path / "out", *SMALL], capsys)  # no bar wanted: no tqdm needed
    assert status == 0, err


# --------------------------------------------------------------------------- plot and demo


def test_plot_audio_and_npy(tree, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    root, files = tree
    png = tmp_path / "pics" / "b.png"
    status, out, err = run(["plot", files["sub/b"], "-o", png, *SMALL], capsys)
    assert status == 0, err
    assert out.strip() == str(png)
    assert png_size(png) == (1000, 400)

    mel_path = tmp_path / "c.npy"
    np.save(mel_path, direct(decoded(files["sub/deep/c"]).mean(axis=1), **SMALL_KW))
    png2 = tmp_path / "c.png"
    status, _, err = run(["plot", mel_path, "-o", png2, *SMALL, "--title", "saved"], capsys)
    assert status == 0, err
    assert png_size(png2) == (1000, 400)

    import matplotlib.image

    pixels = matplotlib.image.imread(png2)
    assert pixels.shape[:2] == (400, 1000)
    assert pixels[..., :3].std() > 0.05  # a picture, not a blank canvas

    # The wrong number of mel bands for the settings is a usage error.
    status, _, err = run(["plot", mel_path, "-o", tmp_path / "x.png"], capsys)
    assert status == 2 and "num_mel_bins=128" in err
    assert not (tmp_path / "x.png").exists()


def test_plot_unreadable_audio(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nonsense")
    status, _, err = run(["plot", bad, "-o", tmp_path / "bad.png"], capsys)
    assert status == 1 and "bad.wav" in err
    assert not (tmp_path / "bad.png").exists()


def test_demo(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    status, out, err = run(["demo", "-o", tmp_path / "demo"], capsys)
    assert status == 0, err
    assert "shape (128, 126)" in out
    assert "first call:" in out and "second call:" in out
    png = tmp_path / "demo" / "melplug_demo.png"
    assert out.strip().endswith(str(png))
    width, height = png_size(png)
    assert (width, height) == (1000, 400)
    assert png.stat().st_size > 20_000


def test_demo_audio_is_deterministic():
    a, b = cli.demo_audio(), cli.demo_audio()
    assert a.dtype == np.float32 and a.shape == (64000,)
    np.testing.assert_array_equal(a, b)
    assert 0.1 < np.abs(a).max() <= 1.0


def test_mel_band_centres_match_keras_weight_peaks():
    from melplug.plot import mel_band_centres

    layer = melplug.MelSpectrogram(num_mel_bins=40, fft_length=1024, min_freq=50.0, max_freq=7000)
    bin_hz = np.arange(1024 // 2 + 1) * (16000 / 2) / (1024 // 2)
    peaks = bin_hz[np.argmax(layer.mel_weights, axis=0)]
    centres = mel_band_centres(40, min_freq=50.0, max_freq=7000)
    assert centres.shape == (40,) and np.all(np.diff(centres) > 0)
    np.testing.assert_array_less(np.abs(peaks - centres), bin_hz[1] / 2 + 1e-9)  # the peak is the nearest bin
