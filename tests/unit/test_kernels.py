"""The public @njit entry points, from Python and from inside users' own Numba code."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import melplug
from melplug import kernels
from tests._util import make_audio, run_python

pytest.importorskip("scipy", reason="tests/references/mel.py builds its windows with scipy.signal (a test dependency)")
from tests.references import mel as reference  # noqa: E402

KW = dict(fft_length=400, sequence_stride=150, num_mel_bins=32, sampling_rate=16000)
#: The configuration of the non-finite power test below (512-point FFT: 257 bins).
KW_512 = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)


@numba.njit
def user_batch_features(batch, plan):
    mel = kernels.mel_spectrogram(batch, plan)
    return mel, kernels.num_frames(batch.shape[1], plan)


@numba.njit
def user_two_stage(signal, plan):
    frames = kernels.windowed_frames(signal, plan)
    spectra = np.fft.rfft(frames)
    mel = kernels.spectra_to_mel(spectra, plan)
    kernels.apply_top_db(mel, plan)
    return frames, mel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_inside_user_njit_matches_class(dtype):
    mel = melplug.MelSpectrogram(**KW)
    audio = make_audio((3, 5000), dtype=dtype)
    got, frames = user_batch_features(audio, mel.plan)
    assert got.dtype == dtype and got.shape == (3, 32, frames) and frames == mel.num_frames(5000)
    np.testing.assert_array_equal(got, mel(audio))
    direct = kernels.mel_spectrogram(audio, mel.plan)  # from Python too
    np.testing.assert_array_equal(direct, got)


@pytest.mark.parametrize("n", [1, 3, 150, 5000])
def test_two_stage_building_blocks(n):
    mel = melplug.MelSpectrogram(**KW)
    sig = make_audio((n,), dtype=np.float64)
    frames, got = user_two_stage(sig, mel.plan)
    padded = np.pad(sig, 200, mode="reflect")
    win = reference.window_array("hann", 400, 400)
    want_frames = np.stack([padded[i * 150 : i * 150 + 400] * win for i in range(mel.num_frames(n))])
    np.testing.assert_allclose(frames, want_frames, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got, mel(sig), atol=1e-9)


@pytest.mark.parametrize(
    "options",
    [
        dict(top_db_scope="batch"),
        dict(top_db=None),
        dict(power_to_db=False),
        dict(on_nonfinite="propagate", top_db_scope="batch"),
    ],
)
def test_kernel_matches_core_for_every_option(options):
    mel = melplug.MelSpectrogram(**KW, **options)
    audio = make_audio((3, 4000))
    audio[1] *= 1e-3
    if options.get("on_nonfinite") == "propagate":
        audio[2, 7] = np.inf
    np.testing.assert_array_equal(kernels.mel_spectrogram(audio, mel.plan), mel(audio))


def test_kernel_nonfinite_behaviour():
    audio = make_audio((2, 3000))
    audio[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        kernels.mel_spectrogram(audio, melplug.MelSpectrogram(**KW).plan)
    out = kernels.mel_spectrogram(audio, melplug.MelSpectrogram(**KW, on_nonfinite="propagate").plan)
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()


def test_a_plan_whose_arrays_melplug_did_not_build_is_refused_by_name():
    plan = melplug.MelSpectrogram(**KW).plan
    audio = make_audio((1, 3000))
    for bad in (plan.window.astype(np.float32), np.repeat(plan.window, 2)[::2]):  # another dtype, not contiguous
        with pytest.raises(numba.core.errors.TypingError, match="plan.window must be a C-contiguous 1-D float64"):
            kernels.mel_spectrogram(audio, plan._replace(window=bad))


def test_kernel_in_user_prange_subprocess():
    # Run in a subprocess: a user's prange starts Numba's threading layer in that process.
    code = """
        import numba, numpy as np, melplug
        from melplug import kernels
        @numba.njit(parallel=True)
        def per_row(batch, plan):
            out = np.empty((batch.shape[0], plan.num_mel_bins, kernels.num_frames(batch.shape[1], plan)),
                           dtype=batch.dtype)
            for i in numba.prange(batch.shape[0]):
                out[i] = kernels.mel_spectrogram(batch[i:i + 1], plan)[0]
            return out
        mel = melplug.MelSpectrogram(fft_length=256, num_mel_bins=16)
        x = np.random.default_rng(0).standard_normal((8, 3000)).astype(np.float32)
        assert np.array_equal(per_row(x, mel.plan), mel(x)), "mismatch"
        print("ok", numba.threading_layer())
    """
    assert run_python(code).stdout.startswith("ok")


def test_kernel_block_reports_non_finite_power_for_both_dtypes():
    # A regression test: the float32 dB once turned a NaN made inside the FFT into a silent floor.
    from melplug import kernels

    plan = melplug.MelSpectrogram(**KW_512).plan
    for dtype in (np.complex64, np.complex128):
        spectra = np.zeros((3, 257), dtype=dtype)
        spectra[1, 10] = np.nan
        mel = kernels.spectra_to_mel(spectra, plan)
        assert np.isnan(mel[:, 1]).any(), dtype  # the NaN reaches the output instead of becoming -100 dB
        assert np.isfinite(mel[:, 0]).all()
