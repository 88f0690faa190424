"""The transformers presets and :func:`melplug.from_transformers` against their references.

Each preset is compared per clip with its reference (``_transformers_refs.py``: the transformers class where it
runs without torch, else a float64 port of its torch path, checked by hand against the real one), on noise,
tones, speech with pauses, near-silence with a burst and a clip shorter than 0.5 s, in float32 and float64;
shape, values and the reference's mask (:meth:`melplug.FeatureExtractor.valid_frames`).
"""

from __future__ import annotations

import json
import pickle
import warnings

import numba
import numpy as np
import pytest

import melplug
from melplug import _references, kernels
from melplug._references import REFERENCES
from tests.presets._transformers_refs import FLOAT64_REFERENCES, reference, transformers_class
from tests.references.signals import make_signal

pytest.importorskip("transformers", reason="the transformers presets' references are transformers (melplug[test])")

#: max |melplug - reference| in the reference's output units, per (reference, melplug's dtype).  float64 against
#: a float64 reference: round-off (measured <= 3e-13).  float32 (and float64 against a float32 reference):
#: float32 round-off of the STFT, measured on these clips (the quietest bands of near-silence sit 54 dB below
#: the burst) at 2e-4 (log units) for most; normalised outputs (speech-to-text, w2v-bert) 1.3e-3.
TOL = {
    np.float64: 1e-9,
    np.float32: 1e-3,
}
#: References that compute in float32 whatever the input (their float64 output is held to the float32 bound).
FLOAT32_ONLY = {"whisper", "moss-transcribe-diarize", "clvp", "speech-to-text", "gemma3n"}
#: Normalised outputs against a float32 reference: a band's error is divided by its standard deviation.
LOOSE = {"speech-to-text": 3e-3}

NAMES = [name for name in REFERENCES if name not in ("ast", "w2v-bert")]  # those two: test_ast, test_w2v_bert
KINDS = ("noise", "tones", "speech", "burst")


def _clip(kind: str, n: int, sr: int, seed: int = 1) -> np.ndarray:
    """A float32-exact float64 clip (the references round their input to float32)."""
    if kind == "burst":  # near-silence (-60 dB) with a 0.1 s tone burst
        rng = np.random.default_rng(seed)
        x = 1e-3 * rng.standard_normal(n)
        a = n // 3
        b = min(n, a + sr // 10)
        x[a:b] += 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(b - a) / sr)
    else:
        x = make_signal(kind, n, sr, seed)
    return x.astype(np.float32).astype(np.float64)


@pytest.fixture(scope="module", params=NAMES)
def preset(request):
    name = request.param
    overrides = {"dither": 0.0} if name == "cohere-asr" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return name, melplug.preset(name, **overrides)


def _lengths(sr: int) -> tuple[int, ...]:
    return (2 * sr + 7, int(0.27 * sr), sr)  # odd, shorter than 0.5 s, a multiple of the hop


@pytest.mark.parametrize("kind", KINDS)
def test_matches_its_reference(preset, kind):
    name, fx = preset
    sr = int(fx.sampling_rate)
    key = REFERENCES[name].output_key
    mask_key = REFERENCES[name].mask_key
    for n in _lengths(sr):
        x = _clip(kind, n, sr)
        ref = reference(name, x)
        want = np.asarray(ref[key], dtype=np.float64)
        exact = None
        if name in FLOAT64_REFERENCES:
            exact = want
        elif f"{name}-64" in FLOAT64_REFERENCES:
            exact = np.asarray(reference(f"{name}-64", x)[key], dtype=np.float64)
        for dtype in (np.float32, np.float64):
            got = fx(x.astype(dtype))
            assert got.shape == want.shape and got.dtype == dtype, (name, kind, n, got.shape, want.shape)
            assert fx.num_frames(n) == got.shape[0 if fx.layout == "frames_mels" else 1]
            tol = LOOSE.get(name, TOL[np.float32])
            err = np.abs(got - want).max(initial=0.0)
            assert err <= tol, f"{name} {kind} n={n} {dtype.__name__}: {err:.3g} > {tol:.3g}"
            if exact is not None:
                err = np.abs(got - exact).max(initial=0.0)
                tol = TOL[dtype] * max(1.0, np.abs(exact).max(initial=0.0))
                assert err <= tol, f"{name} {kind} n={n} {dtype.__name__} vs float64: {err:.3g} > {tol:.3g}"
        if mask_key is not None:
            assert fx.valid_frames(n) == int(np.sum(ref[mask_key])), (name, n)
        if fx.pad_invalid_frames:
            v = fx.valid_frames(n)
            assert (got[v:] == 0.0).all()


def test_float64_references_cover_the_torch_only_ones():
    torch_only = {"parakeet", "cohere-asr", "nemotron-asr-streaming", "inkling", "qwen3-asr", "voxtral-realtime"}
    torch_only |= {"fun-asr-nano", "granite-speech5"}
    assert torch_only | {"lasr", "phi4-multimodal", "granite-speech"} <= FLOAT64_REFERENCES
    assert FLOAT32_ONLY.isdisjoint(FLOAT64_REFERENCES)


@pytest.mark.parametrize(
    "name, config",
    [
        ("whisper", {"feature_size": 128}),
        ("whisper", {"chunk_length": 10, "hop_length": 200}),
        ("parakeet", {"feature_size": 128}),
        ("parakeet", {"hop_length": 128, "win_length": 320, "preemphasis": 0.9}),
        ("nemotron-asr-streaming", {"preemphasis": None}),
        ("qwen3-asr", {"feature_size": 80, "n_window": 0}),
        ("qwen3-asr", {"min_length": 0, "chunk_length": 5}),
        ("voxtral-realtime", {"global_log_mel_max": None}),
        ("voxtral-realtime", {"feature_size": 80, "hop_length": 128}),
        ("lasr", {"feature_size": 80, "win_length": 320}),
        ("phi4-multimodal", {"mel_max_frequency": 8000, "preemphasis": 0.0}),
        ("gemma3n", {"feature_size": 80, "fft_overdrive": False, "preemphasis": 0.0}),
        ("gemma3n", {"per_bin_mean": list(np.linspace(-3, 1, 128)), "per_bin_stddev": list(np.linspace(1, 4, 128))}),
        ("clvp", {"mel_norms": list(np.linspace(0.5, 2.0, 80)), "default_audio_length": 2}),
        ("granite-speech", {"n_mels": 64, "hop_length": 128}),
        ("inkling", {"feature_size": 64}),
        ("inkling", {"window_size_multiplier": 3.0}),
        ("inkling", {"window_size_multiplier": 1.0, "n_fft": 1024}),
        ("speech-to-text", {"normalize_vars": False}),
        ("speech-to-text", {"do_ceptral_normalize": False, "num_mel_bins": 40, "feature_size": 40}),
        ("moss-transcribe-diarize", {"feature_size": 128}),
        ("fun-asr-nano", {"num_frames_lfr": 5, "stride_lfr": 3, "window": "hanning", "feature_size": 40}),
        ("fun-asr-nano", {"num_frames_lfr": 1, "stride_lfr": 1}),
        ("granite-speech5", {"num_mel_bins": 64, "delta_win_length": 5, "logmel_floor_db": 6.0}),
    ],
)
def test_non_default_configs(name, config):
    cls = REFERENCES[name].cls
    fx = melplug.from_transformers({"feature_extractor_type": cls, **config})
    assert fx == melplug.preset(name, **config)
    sr = int(fx.sampling_rate)
    key = REFERENCES[name].output_key
    for kind, n in (("speech", sr + 333), ("burst", int(0.3 * sr))):
        x = _clip(kind, n, sr)
        want = reference(f"{name}-64" if f"{name}-64" in FLOAT64_REFERENCES else name, x, **config)[key]
        got = fx(x)
        assert got.shape == want.shape, (name, config, got.shape, want.shape)
        tol = (
            1e-9 * max(1.0, np.abs(want).max())
            if f"{name}-64" in FLOAT64_REFERENCES or name in FLOAT64_REFERENCES
            else 3e-3
        )
        assert np.abs(got - want).max() <= tol, (name, config, np.abs(got - want).max())


def _constructor_defaults(cls_name: str) -> dict:
    """The defaults of class ``cls_name``'s ``__init__``, read from its source (many need torch to import)."""
    import ast
    import pathlib

    import transformers

    for path in pathlib.Path(transformers.__file__).parent.glob("models/*/feature_extraction_*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls_name:
                init = next(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
                args = init.args.args[1:]
                values = [ast.literal_eval(d) for d in init.args.defaults]
                return dict(zip([a.arg for a in args][len(args) - len(values) :], values, strict=True))
    raise LookupError(cls_name)


def test_defaults_are_the_constructors():
    """Each reference's recorded defaults are its transformers class's constructor defaults."""
    for name, ref in REFERENCES.items():
        defaults = _constructor_defaults(ref.cls)
        for key, value in ref.defaults.items():
            assert key in defaults, (name, key)
            assert defaults[key] == value, (name, key, defaults[key], value)


@pytest.mark.parametrize("name", ["whisper", "gemma3n", "clvp", "speech-to-text", "moss-transcribe-diarize"])
def test_objects_to_dict_and_files(name, tmp_path):
    """An extractor object, its to_dict(), its saved preprocessor_config.json and its folder give one extractor."""
    _, cls = transformers_class(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fe = cls()
    fe.save_pretrained(tmp_path)
    fx = melplug.from_transformers(fe)
    assert fx == melplug.from_transformers(fe.to_dict())
    assert fx == melplug.from_transformers(tmp_path)
    assert fx == melplug.from_transformers(tmp_path / "preprocessor_config.json")
    assert fx == melplug.from_transformers(str(tmp_path))
    assert fx == melplug.preset(name)
    assert fx.reference == name


def test_gemma3n_objects_keep_their_frames_in_samples(tmp_path):
    """Gemma 3n's object holds its frame and hop in samples, its config in ms: both give the same extractor."""
    _, cls = transformers_class("gemma3n")
    fe = cls(frame_length_ms=25.0, hop_length_ms=12.5, feature_size=64)
    fx = melplug.from_transformers(fe)
    assert fx == melplug.preset("gemma3n", frame_length_ms=25.0, hop_length_ms=12.5, feature_size=64)
    assert (fx.frame_length, fx.hop_length) == (400, 200)
    x = _clip("speech", 16000, 16000)
    want = reference("gemma3n-64", x, frame_length_ms=25.0, hop_length_ms=12.5, feature_size=64)["input_features"]
    np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * max(1.0, np.abs(want).max()))


def test_a_plain_extractor_round_trips():
    for name in REFERENCES:
        fx = melplug.preset(name)
        config = json.loads(json.dumps(fx.get_config()))
        assert melplug.FeatureExtractor.from_config(config) == fx
        clone = pickle.loads(pickle.dumps(fx))
        assert clone == fx and type(clone) is melplug.FeatureExtractor


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_batches_ragged_lists_and_user_njit(name):
    fx = melplug.preset(name, **({"dither": 0.0} if name == "cohere-asr" else {}))
    sr = int(fx.sampling_rate)
    clips = [_clip("speech", n, sr, seed=i).astype(np.float32) for i, n in enumerate((sr, sr // 3 + 5, 2 * sr))]
    alone = [fx(c) for c in clips]
    for got, want in zip(fx(clips), alone, strict=True):
        np.testing.assert_array_equal(got, want)
    batch = np.stack([clips[0], clips[0] * 0.5])
    out = fx(batch)
    np.testing.assert_array_equal(out[0], alone[0])
    np.testing.assert_array_equal(out[1], fx(clips[0] * 0.5))

    @numba.njit
    def user(audio2d, plan):
        return kernels.mel_spectrogram(audio2d, plan)

    np.testing.assert_allclose(user(batch, fx.plan)[0], alone[0], rtol=0, atol=1e-5 * max(1.0, np.abs(alone[0]).max()))


def test_ast_and_seamless_configs(transformers_ast_defaults=None):
    """AST and SeamlessM4T (numerics in test_ast.py, test_w2v_bert.py): their configs, and SeamlessM4T's mask."""
    ast = melplug.from_transformers(
        {"feature_extractor_type": "ASTFeatureExtractor", "num_mel_bins": 64, "max_length": 512, "do_normalize": False}
    )
    assert ast == melplug.preset("ast", num_mel_bins=64, output_frames=512, scale=1.0, offset=0.0)
    assert ast(np.zeros(16000, np.float32)).shape == (512, 64)
    _, cls = transformers_class("w2v-bert")
    fe = cls()
    fx = melplug.from_transformers(fe)
    assert fx == melplug.preset("w2v-bert")
    for n in (4001, 4161, 16007):  # 23 frames (odd: the last row is masked there), 24, 98
        x = _clip("speech", n, 16000).astype(np.float32)
        mask = fe([x], sampling_rate=16000, return_tensors="np")["attention_mask"][0]
        assert fx.valid_frames(n) == int(mask.sum()), n


def test_errors_name_what_is_wrong(tmp_path):
    fx = melplug.preset("parakeet")
    with pytest.raises(ValueError, match=r"sampling_rate=8000.*16000"):
        fx(np.zeros(16000, np.float32), sampling_rate=8000)
    assert fx(np.zeros(16000, np.float32), sampling_rate=16000).shape == (101, 80)
    with pytest.raises(ValueError, match=r"sampling_rate=22050.*16000"):
        melplug.MelSpectrogram()(np.zeros(4000, np.float32), sampling_rate=22050)
    with pytest.raises(TypeError, match="sampling_rate"):
        fx(np.zeros(16000, np.float32), sampling_rate="16k")
    with pytest.raises(ValueError, match="NotAnExtractor"):
        melplug.from_transformers({"feature_extractor_type": "NotAnExtractor"})
    for cls, why in _references.REFUSED.items():
        with pytest.raises(ValueError, match=rf"{cls} cannot be reproduced by melplug: "):
            melplug.from_transformers({"feature_extractor_type": cls})
        assert why
    with pytest.raises(ValueError, match="feature_extractor_type"):
        melplug.from_transformers({"feature_size": 80})
    with pytest.raises(ValueError, match="preprocessor_config.json"):
        melplug.from_transformers(tmp_path)
    with pytest.raises(TypeError, match="from_transformers takes"):
        melplug.from_transformers(42)
    with pytest.raises(ValueError, match="padding_value"):
        melplug.from_transformers({"feature_extractor_type": "ParakeetFeatureExtractor", "padding_value": 1.0})
    with pytest.raises(ValueError, match="preemphasis_htk_flavor"):
        melplug.preset("gemma3n", preemphasis_htk_flavor=False)


def test_long_clips_split_by_the_reference_are_refused():
    moss = melplug.preset("moss-transcribe-diarize")
    assert moss(np.zeros(480000, np.float32)).shape == (80, 3000)
    with pytest.raises(ValueError, match=r"480001 samples, more than input_max_length=480000"):
        moss(np.zeros(480001, np.float32))
    cohere = melplug.preset("cohere-asr", dither=0.0)
    assert cohere.input_max_length == 30 * 16000
    with pytest.raises(ValueError, match="input_max_length"):
        cohere([np.zeros(1000, np.float32), np.zeros(30 * 16000 + 1, np.float32)])


def test_too_short_to_normalise_is_an_error():
    fx = melplug.preset("parakeet")  # the reference divides 0 by 0: NaN everywhere
    with pytest.raises(ValueError, match=r"at least 2: clips of at least 320 samples"):
        fx(np.ones(319, np.float32))
    assert fx(np.ones(320, np.float32)).shape == (3, 80)


def test_dither_is_honoured_with_the_same_std():
    quiet = melplug.preset("cohere-asr")  # its default dither, 1e-5
    assert quiet.dither == 1e-5
    silence = np.zeros(16000, np.float32)
    assert not np.array_equal(quiet(silence), melplug.preset("cohere-asr", dither=0.0)(silence))
    np.testing.assert_array_equal(quiet(silence), quiet(silence))  # seeded
