"""melplug._geometry: frames, output shapes (fixed ones included), length checks and their words, in one place."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import melplug
from melplug import _driver, _geometry, _kernels, _plan


def _preset(name, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-band notices of some presets
        return melplug.preset(name, **kwargs)


def test_the_kernels_compile_the_one_formula():
    assert _plan.PAD_MODES is _geometry.PAD_MODES
    assert _kernels._plan_frames.py_func is _geometry.plan_frames
    assert _kernels._frame_count.py_func is _geometry.frame_count


@pytest.mark.parametrize(
    "name, example", [("whisper", (80, 3000)), ("ast", (1024, 128)), ("kaldi", (None, 23)), ("w2v-bert", (None, 160))]
)
def test_unknown_lengths_keep_fixed_outputs(name, example):
    fx = _preset(name)
    assert fx.compute_output_shape((None,)) == example
    assert fx.compute_output_shape((3, None)) == (3, *example)
    assert _geometry.output_shape(fx.plan, (None, None)) == (None, *example)


@pytest.mark.parametrize("name", ["keras", "whisper", "kaldi", "ast", "w2v-bert", "kaldi-mfcc", "librosa-mfcc"])
@pytest.mark.parametrize("n", [1, 399, 400, 561, 16000, 16001])
def test_shapes_are_the_computed_ones(name, n):
    fx = _preset(name)
    if _geometry.length_error(fx.plan, n, "audio"):
        with pytest.raises(ValueError, match="^audio has"):
            fx(np.zeros((2, n), np.float32))
        return
    out = fx(np.ones((2, n), np.float32))
    assert out.shape == fx.compute_output_shape((2, n)) == _geometry.output_shape(fx.plan, (2, n))
    time_axis = 0 if fx.plan.frames_major or fx.plan.stack_frames > 1 else 1
    assert fx.num_frames(n) == out.shape[1 + time_axis] == _geometry.time_steps(fx.plan, n)


def test_rows_for_unknown_lengths():
    assert _geometry.rows_for(_preset("keras").plan, -1) == -1
    assert _geometry.rows_for(_preset("whisper").plan, -1) == 3000  # fixed input length (30 s) and output
    assert _geometry.fixed_rows(_preset("ast").plan) == 1024


CASES = {
    # preset, samples, code, the words users see (unchanged)
    "reflect_once": (
        "torchaudio",
        150,
        _geometry.TOO_SHORT_TO_REFLECT,
        "audio has 150 samples; pad_mode='reflect_once' (torch's reflect padding) needs more than the 200 samples "
        "it pads by: clips of at least 201 samples",
    ),
    "normalize": (
        "w2v-bert",
        300,
        _geometry.TOO_FEW_FRAMES_TO_NORMALIZE,
        "audio has 300 samples, 0 valid frame(s); per-clip normalisation (normalize_ddof=1) needs at least 2: clips of "
        "at least 560 samples",
    ),
    "fixed output": (
        "ast",
        100,
        _geometry.NO_FRAME_FOR_FIXED_OUTPUT,
        "audio has 100 samples, shorter than one frame (400 samples): too short for a fixed output of 1024 frames; "
        "pad the clip to at least 400 samples",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_length_checks_have_one_wording(case):
    name, n, code, words = CASES[case]
    fx = _preset(name)
    assert _geometry.check_length(fx.plan, n)[0] == code
    assert _geometry.length_error(fx.plan, n, "audio") == words
    with pytest.raises(ValueError) as info:
        fx(np.zeros((2, n), np.float32))
    assert str(info.value) == words
    with pytest.raises(ValueError) as info:
        fx([np.zeros(n, np.float32)])
    assert str(info.value) == words.replace("audio", "audio[0]", 1)
    assert _geometry.check_length(fx.plan, n + 10**5)[0] == _geometry.LENGTH_OK


def test_a_template_is_the_message_with_placeholders():
    plan = _preset("w2v-bert").plan
    template = _geometry.length_message(plan, _geometry.TOO_FEW_FRAMES_TO_NORMALIZE, "audio", "{samples}", "{frames}")
    assert template.format(samples=300, frames=0) == _geometry.length_error(plan, 300, "audio")


@pytest.mark.parametrize("bad_input", [True, False])
def test_the_nonfinite_message_is_the_one_the_core_raises(bad_input):
    flags = np.array([0, 0, _kernels.BAD_INPUT if bad_input else _kernels.BAD_OUTPUT, 0], np.uint8)
    with pytest.raises(ValueError) as info:
        _driver.raise_nonfinite(flags, lambda i: f"audio example {i}", "examples", np.float32)
    assert str(info.value) == _geometry.nonfinite_message(bad_input, "audio example 2", 1, 4, "examples", "float32")
    audio = np.ones((4, 4000), np.float32)
    audio[2, 7] = np.nan if bad_input else 1e30
    with pytest.raises(ValueError) as info:
        melplug.MelSpectrogram(num_mel_bins=40, fft_length=512, sequence_stride=160)(audio)
    assert str(info.value) == _geometry.nonfinite_message(bad_input, "audio example 2", 1, 4, "examples", "float32")
