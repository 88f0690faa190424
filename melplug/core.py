"""Core layer: the public :class:`FeatureExtractor` and :class:`MelSpectrogram`: options, shapes, pickling.

Each layer has its own module: arguments are checked by :mod:`._validate`
and resolved into a config by :mod:`._config`; :func:`._plan.build_plan`
turns the config into arrays; a call goes through :mod:`._call` (convert
once, check, shape the output), whose :class:`._driver.Driver` lays the work
out and runs the :mod:`._kernels` on :mod:`._parallel`'s threads.  This
module only connects them and owns the public contract: the options (fixed
once built), the output shapes, configs, equality and pickling.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _call, _config, _filters, _geometry, _plan
from ._driver import Driver
from ._plan import MelPlan
from ._validate import check_int

__all__ = ["EXTRA_DEFAULTS", "KERAS_DEFAULTS", "FeatureExtractor", "MelSpectrogram", "mel_spectrogram"]


class FeatureExtractor:
    """Audio features on melplug's fused kernels: the engine behind every preset.

    Every step of the presets (docs/presets.md) is an option; a step that is off costs nothing in
    the kernel, and every configuration runs on the same compiled kernels
    (options are plan values).  The defaults compute Keras' defaults
    (:class:`MelSpectrogram`, the ``"keras"`` preset); :func:`melplug.preset`
    gives the configurations of the reference front-ends.

    Parameters
    ----------
    sampling_rate : real > 0
        Sampling rate of the audio in Hz.
    input_gain : real != 0
        Factor applied to the samples first (wav2vec-BERT: ``2**15``).
    input_length : int >= 1 or None
        Zero-pad or cut every clip to this many samples first (Whisper: 30 s).
    input_min_length : int >= 1 or None
        Zero-extend a shorter clip to this many samples; they count as the
        clip's own for its valid frames (Qwen3-ASR's ``min_length``).
    input_pad_to : int >= 1 or None
        Zero-pad a shorter signal to this many samples (padding to a batch
        ``max_length``; Qwen3-ASR pads to 30 s).
    input_multiple : int >= 1 or None
        Zero-pad the signal up to a multiple of this many samples (``pad_to_multiple_of``; Gemma 3n: 128).
    input_max_length : int >= 1 or None
        The longest clip: a longer one is cut to it, or refused (``input_overflow``).
    input_overflow : {"cut", "raise"}
        What a clip longer than ``input_max_length`` gets: cut (transformers'
        ``truncation=True``), or a ``ValueError`` (a reference that splits
        such clips into several examples).
    signal_preemphasis : real in [0, 1]
        Pre-emphasis of the whole clip before framing (NeMo, Parakeet):
        ``y[0] = x[0]``, ``y[i] = x[i] - p x[i-1]``, zeros beyond the clip
        (centred frames need ``pad_mode="constant"``, NeMo's).
    framing : {"center", "snip_edges", "left", "kaldi_center"}
        Frames centred on ``t * hop_length`` (the signal padded by
        ``frame_length // 2`` each side), Kaldi's frames inside the signal
        (none for a clip shorter than one frame), frames starting
        ``left_pad`` samples before the clip with no padding after it (causal,
        Inkling), or Kaldi's ``snip_edges=False`` frames (what sherpa-onnx and
        sherpa-ncnn feed their models): frame ``t`` centred on ``t * hop_length
        + hop_length // 2``, starting ``t * hop_length + hop_length // 2 -
        frame_length // 2``, ``(n + hop_length // 2) // hop_length`` frames, the
        clip extended by symmetric reflection (the edge sample repeated, as
        often as needed).  ``"kaldi_center"`` needs ``hop_length <=
        frame_length``, ``frame_rule="all"``, no ``signal_preemphasis`` and
        ``pad_mode`` left at its default (its padding is Kaldi's); it streams,
        frames coming when kaldi-native-fbank's ``num_frames_ready`` has them.
    left_pad : int >= 0 or None
        The padding before the clip of ``framing="left"`` (``None``:
        ``frame_length - hop_length``, at least 0).
    center_pad : int >= 0 or None
        The padding on each side of ``framing="center"`` (``None``:
        ``frame_length // 2``; BigVGAN and HiFi-GAN pad ``(fft_length -
        hop_length) // 2`` and frame without centring, ``n // hop_length`` frames).
    pad_mode : {"reflect", "reflect_once", "constant"}
        Centre padding: NumPy's reflect (repeated for clips shorter than the
        pad), torch's reflect (``"reflect_once"``: a clip must be longer than
        the pad, else ``ValueError``), or zeros (librosa >= 0.10).
        ``framing="kaldi_center"`` pads as Kaldi does and takes only the default.
    frame_unit : {"samples", "ms"}
        Unit of ``frame_length`` and ``hop_length``; milliseconds convert as
        Kaldi does, ``int(float32(sampling_rate) * 0.001 * ms)``.
    frame_length, hop_length : int >= 1 (samples) or real > 0 (ms)
        Frame size and hop.
    fft_length : int >= frame_length, "pow2" or None
        FFT size; ``None`` is the frame length, ``"pow2"`` the next power of two
        (Kaldi).  The frame sits at the start of the zero-padded FFT buffer.
    frame_rule : {"all", "n_over_hop", "ceil", "lookahead"}
        Frames computed for a signal of ``n`` samples: every frame the framing
        gives, ``n // hop_length`` (the last centred frame dropped, as
        ``torch.stft(...)[..., :-1]`` in Whisper-style extractors),
        ``ceil(n / hop_length)``, or the framing's frames that have one more
        sample after them (Gemma 3n frames ``frame_length + 1`` samples and uses the first ``frame_length``).
    frame_multiple : int >= 1
        Compute frames up to a multiple of this many, from the signal
        zero-extended as far as the last one's start (GraniteSpeech5: 2).
    window : {"hann", "hamming", "povey", "rectangular"} or array of shape (window_length,)
        Analysis window (Povey's: symmetric Hann to the power 0.85, Kaldi).
    window_length : int in [1, frame_length] or None
        Window size (``None``: the frame length).
    window_periodic : bool
        Periodic windows (scipy, Keras, librosa, torch) or symmetric (Kaldi).
    window_position : {"center", "start"}
        Where a window shorter than the frame sits in it.
    remove_dc : bool
        Subtract each frame's mean first (Kaldi).
    preemphasis : real in [0, 1]
        Per-frame pre-emphasis ``x[i] -= p * x[i-1]``, ``x[0] -= p * x[0]`` (Kaldi: 0.97).
    dither : real >= 0
        Standard deviation of Gaussian noise added to every raw frame sample
        first (Kaldi's dither; 0 in every preset).  Seeded and counter-based:
        the noise depends on ``dither_seed``, the frame's index in its clip and
        the sample's place in the frame, never on batching or threads.
    dither_seed : int >= 0
        Seed of that noise.
    magnitude_power : real > 0
        Exponent of the magnitude (2: power, 1: magnitude).
    power_floor : real >= 0
        Clamp of the power ``|X|**2`` before that exponent (0: none; Inkling: 1e-10).
    power_guard : real >= 0
        Added to the power ``|X|**2`` before that exponent (0: nothing; BigVGAN's
        magnitude ``sqrt(|X|**2 + 1e-9)``).
    num_mel_bins : int >= 1
        Mel bands.
    mel_scale : {"keras", "htk", "slaney", "kaldi"}
        ``1127 ln(1 + f/700)`` (keras, kaldi), ``2595 log10(1 + f/700)`` (htk) or Slaney's.
    mel_triangles : {"mel", "hz", "hz_symmetric"}
        Triangles linear in mel (Keras, Kaldi) or in Hz (librosa, torch,
        transformers), or linear in Hz and symmetric around each centre, as
        wide above it as below it (SpeechBrain's ``Filterbank``).
    mel_grid : {"keras", "integer", "kaldi", "rfft"}
        FFT bin frequencies: ``linspace(0, sr / 2, bins)`` with the DC bin dropped
        (Keras), ``linspace(0, sr // 2, bins)`` (transformers, torchaudio),
        ``i * sr / fft_length`` without the Nyquist bin (Kaldi), or
        ``np.fft.rfftfreq(fft_length, 1 / sr)`` (librosa).
    mel_norm : {None, "slaney"}
        Slaney's area normalisation.
    min_freq, max_freq : real >= 0, real > min_freq or None
        Edges of the mel range in Hz (``None``: ``sampling_rate / 2``).
    empty_bands : {"warn", "raise", "ignore"}
        What an empty mel band (no FFT bin in it) causes at construction.
    log : {"db", "ln", "log10", None}
        ``10 log10(max(M, log_floor) / ref)``, ``ln(max(M, log_floor))``,
        ``log10(...)``, or no logarithm.
    log_floor : real > 0
        Clamp before the logarithm.
    log_guard : real >= 0
        Added to the mel bands before the logarithm and its clamp:
        ``log(max(M + log_guard, log_floor))`` (NeMo and Parakeet take
        ``ln(M + 2**-24)``); 0 adds nothing.
    log_min : real or None
        Fixed floor of the logarithm's values, in its units (Voxtral Realtime:
        ``1.5 - 8`` in log10); ``None``: none.
    ref_power : real
        Reference of ``"db"`` (``max(|ref_power|, log_floor)``).
    top_db : real >= 0 or None
        Floor at ``max - top_db``, in the logarithm's units (Whisper: 8 in log10).
    top_db_scope : {"example", "batch"}
        Where ``max`` is taken.
    num_ceps : int in [1, num_mel_bins] or None
        Cepstra (MFCC): the first ``num_ceps`` coefficients of the orthonormal
        DCT-II over the mel bands of each frame (after the log and the floor),
        computed inside the fused pass; ``None`` keeps the mel bands.
    lifter : real >= 0
        Cepstral lifter ``L`` (0: none): coefficient ``i`` is multiplied by
        ``1 + L/2 sin(pi i / L)`` (Kaldi, HTK) or ``1 + L/2 sin(pi (i + 1) / L)``
        (librosa), per ``lifter_style``.
    lifter_style : {"kaldi", "librosa"}
        Which of those two conventions ``lifter`` follows.
    energy_c0 : bool
        Replace ``c0`` by the frame's log energy ``log(max(sum x**2, log_floor))``,
        taken after dither and DC removal and before pre-emphasis and the
        window (Kaldi's ``use_energy`` with ``raw_energy``).
    scale, offset : real > 0, real
        Affine map applied last: ``scale * value + offset`` (Whisper: ``(x + 4) / 4``).
    output_frames : int >= 1 or None
        Fixed output frames: computed frames are cut to it, missing ones are ``pad_value``.
    pad_value : real
        Value of those missing frames.
    pad_before_scaling : bool
        ``pad_value`` is given before the affine map (AST) rather than after.
    pad_frames_to : int >= 1
        Pad the frame axis with ``pad_value`` up to a multiple of this many
        frames (NeMo's ``pad_to=16``); 1 pads nothing.
    layout : {"mels_frames", "frames_mels"}
        Per-example output ``(num_mel_bins, frames)`` or ``(frames, num_mel_bins)``
        (``num_ceps`` in place of ``num_mel_bins`` for cepstra).
    feature_scale, feature_offset : array of shape (num_features,) or None
        Per-feature map ``value * feature_scale[m] + feature_offset[m]``
        (per-bin CMVN, Gemma 3n's ``per_bin_mean``/``per_bin_stddev``), applied
        after the logarithm (and normalisation), before ``scale``/``offset``.
        With gathered stacked rows (``stack_remainder="repeat"`` or a
        ``stack_stride``) they may instead hold one value per value of a row,
        ``stack_frames * num_features``: the map then applies to each row
        once it is gathered, in float64 (FunASR's CMVN after LFR, ``am.mvn``).
    delta_window : int >= 3 or None
        Append each frame's delta features (torchaudio's ``compute_deltas``
        with this window: edge frames repeated) after its features:
        ``(frames, 2 * num_mel_bins)`` (``layout="frames_mels"``; GraniteSpeech5: 3).
    valid_frames : {"all", "n_over_hop", "ceil", "whole_windows"}
        Which frames carry the clip (:meth:`FeatureExtractor.valid_frames`;
        the reference's attention mask), counted on the clip's ``n`` samples:
        every computed frame, ``n // hop_length``, ``ceil(n / hop_length)``,
        or those whose window lies inside the clip,
        ``(n - window_length) // hop_length + 1``.  Normalisation takes its
        statistics over them.
    pad_invalid_frames : bool
        Computed frames beyond the valid ones are ``pad_value`` (Parakeet's masked frames).
    reference : str or None
        The reference this configuration reproduces (a name of
        :data:`melplug.PRESETS`), set by :func:`melplug.preset` and
        :func:`melplug.from_transformers`: adapters name their columns after
        it (transformers' ``input_features`` and mask keys).
    normalize : bool
        Per clip and mel band, ``(x - mean) / sqrt(var + normalize_eps)`` over
        its frames (after the log and floor, before ``scale``/``offset``).
    normalize_variance : bool
        ``False`` subtracts the mean only.
    normalize_ddof : int >= 0
        Delta degrees of freedom of that variance; a clip needs more valid
        frames than this (a shorter one is a ``ValueError``).
    normalize_eps : real >= 0
        Added to the variance, or to the standard deviation (``normalize_eps_on``).
    normalize_eps_on : {"variance", "std"}
        ``(x - mean) / sqrt(var + eps)`` or ``(x - mean) / (std + eps)`` (NeMo, Parakeet).
    stack_frames : int >= 1
        Stack this many consecutive frames into one row (``layout="frames_mels"``):
        ``(frames / k, num_mel_bins * k)`` (wav2vec-BERT: 2).
    stack_stride : int in [1, stack_frames] or None
        Frames between the starts of successive rows (``None``: ``stack_frames``,
        no overlap); rows then number ``ceil(frames / stack_stride)`` (FunASR's
        LFR: 7 frames every 6).
    stack_remainder : {"pad", "drop", "repeat"}
        Frames that do not fill a last row are padded with ``pad_value`` up to
        a multiple of ``k``, or dropped (Granite Speech); or, FunASR's LFR, each
        row is centred (``(k - 1) // 2`` frames before its start) and the edge
        frames are repeated where a row runs past the clip.
    valid_rows : {"any", "all"}
        A stacked row counts as valid (:meth:`valid_frames`) when any of its
        frames is, or only when all are (SeamlessM4T's mask).
    dtype, on_nonfinite, num_threads
        As in :class:`MelSpectrogram`.

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> fx = melplug.FeatureExtractor(frame_length=400, hop_length=160, fft_length=512, num_mel_bins=40,
    ...                               log="ln", layout="frames_mels")
    >>> fx(np.zeros(16000, np.float32)).shape
    (101, 40)
    """

    def __init__(
        self,
        *,
        sampling_rate: float = 16000,
        input_gain: float = 1.0,
        input_length: int | None = None,
        input_min_length: int | None = None,
        input_pad_to: int | None = None,
        input_multiple: int | None = None,
        input_max_length: int | None = None,
        input_overflow: Literal["cut", "raise"] = "cut",
        signal_preemphasis: float = 0.0,
        framing: Literal["center", "snip_edges", "left", "kaldi_center"] = "center",
        left_pad: int | None = None,
        center_pad: int | None = None,
        pad_mode: Literal["reflect", "reflect_once", "constant"] = "reflect",
        frame_unit: Literal["samples", "ms"] = "samples",
        frame_length: float = 2048,
        hop_length: float = 512,
        fft_length: int | Literal["pow2"] | None = None,
        frame_rule: Literal["all", "n_over_hop", "ceil", "lookahead"] = "all",
        frame_multiple: int = 1,
        window: str | npt.ArrayLike = "hann",
        window_length: int | None = None,
        window_periodic: bool = True,
        window_position: Literal["center", "start"] = "center",
        remove_dc: bool = False,
        preemphasis: float = 0.0,
        dither: float = 0.0,
        dither_seed: int = 0,
        magnitude_power: float = 2.0,
        power_floor: float = 0.0,
        power_guard: float = 0.0,
        num_mel_bins: int = 128,
        mel_scale: Literal["keras", "htk", "slaney", "kaldi"] = "keras",
        mel_triangles: Literal["mel", "hz", "hz_symmetric"] = "mel",
        mel_grid: Literal["keras", "integer", "kaldi", "rfft"] = "keras",
        mel_norm: Literal["slaney"] | None = None,
        min_freq: float = 20.0,
        max_freq: float | None = None,
        empty_bands: Literal["warn", "raise", "ignore"] = "warn",
        log: Literal["db", "ln", "log10"] | None = "db",
        log_floor: float = 1e-10,
        log_guard: float = 0.0,
        log_min: float | None = None,
        ref_power: float = 1.0,
        top_db: float | None = 80.0,
        top_db_scope: Literal["example", "batch"] = "example",
        num_ceps: int | None = None,
        lifter: float = 0.0,
        lifter_style: Literal["kaldi", "librosa"] = "kaldi",
        energy_c0: bool = False,
        scale: float = 1.0,
        offset: float = 0.0,
        output_frames: int | None = None,
        pad_value: float = 0.0,
        pad_before_scaling: bool = False,
        pad_frames_to: int = 1,
        layout: Literal["mels_frames", "frames_mels"] = "mels_frames",
        feature_scale: npt.ArrayLike | None = None,
        feature_offset: npt.ArrayLike | None = None,
        delta_window: int | None = None,
        valid_frames: Literal["all", "n_over_hop", "ceil", "whole_windows"] = "all",
        pad_invalid_frames: bool = False,
        reference: str | None = None,
        normalize: bool = False,
        normalize_variance: bool = True,
        normalize_ddof: int = 1,
        normalize_eps: float = 1e-7,
        normalize_eps_on: Literal["variance", "std"] = "variance",
        stack_frames: int = 1,
        stack_stride: int | None = None,
        stack_remainder: Literal["pad", "drop", "repeat"] = "pad",
        valid_rows: Literal["any", "all"] = "any",
        dtype: str | None = None,
        on_nonfinite: Literal["raise", "propagate"] = "raise",
        num_threads: int | None = None,
    ) -> None:
        args = {name: value for name, value in locals().items() if name != "self"}
        self._configure(self._resolve(args), warn=True)

    #: Validates every option (all of them, by name) into this class's config.
    _resolve = staticmethod(_plan.resolve_engine)

    @staticmethod
    def _engine(config: dict[str, Any]) -> dict[str, Any]:
        """The engine options of this class's config (the identity here; Keras' mapping in MelSpectrogram)."""
        return config

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        """The constructor's options and their defaults (their one home is the signature)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in params if p.name != "self"}

    @classmethod
    def _config_keys(cls) -> list[str]:
        return list(cls._defaults())

    def _configure(self, config: dict[str, Any], *, warn: bool) -> None:
        """Adopt a resolved config and build its plan (the config is never changed afterwards)."""
        self._config = config
        self._engine_config = self._engine(config)
        self._plan = _plan.build_plan(self._engine_config)
        self._driver = Driver(self._plan)
        self._fast: dict = {}  # _call.fast_call's output shapes, per (shape, dtype, threads)
        self._streams = None  # what this extractor's streams share (_stream.spec_of), made by the first stream
        if warn:
            self._check_bands(stacklevel=4)

    def _check_bands(self, stacklevel: int) -> None:
        """Empty mel bands and ``max_freq`` above Nyquist: warn, raise or ignore, per ``empty_bands``."""
        engine = self._engine_config
        policy = engine["empty_bands"]
        message = _filters.construction_warning(engine, self._plan)
        if message is None or policy == "ignore":
            return
        if policy == "raise":
            raise ValueError(f"{message} (empty_bands='raise'; pass empty_bands='warn' or 'ignore' to allow them)")
        warnings.warn(message, UserWarning, stacklevel=stacklevel)

    # ----------------------------------------------------------------- options as read-only attributes

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: the options (fx.top_db, fx.num_threads, ...), read-only.
        if not name.startswith("_"):
            config = self.__dict__.get("_config")
            if config is not None and name in config:
                return config[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        raise AttributeError(
            f"{type(self).__name__}.{name} cannot be set: an extractor's options are fixed when it is built (its "
            f"plan is made from them); make a new one with .replace({name}=...)"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} cannot be deleted: an extractor's options are fixed")

    # ----------------------------------------------------------------- public properties

    @property
    def plan(self) -> MelPlan:
        """The :class:`~melplug.MelPlan` for :func:`melplug.kernels.mel_spectrogram`."""
        return self._plan

    @property
    def num_features(self) -> int:
        """Values per output frame: ``num_ceps`` for cepstra, else ``num_mel_bins`` (before frame stacking)."""
        return _geometry.out_width(self._plan)

    @property
    def mel_weights(self) -> np.ndarray:
        """Keras' dense mel weight matrix, shape ``(fft_length // 2 + 1, num_mel_bins)``, float64."""
        return _filters.mel_weights(self._engine_config, self._plan.fft_length)

    def num_frames(self, num_samples: int) -> int:
        """Length of the output's time axis for a clip of ``num_samples`` samples (>= 1).

        >>> import melplug
        >>> melplug.MelSpectrogram(sequence_stride=160, fft_length=512, num_mel_bins=80).num_frames(16000)
        101
        """
        return int(_geometry.time_steps(self._plan, check_int("num_samples", num_samples, 1)))

    def valid_frames(self, num_samples: int) -> int:
        """Output frames that carry a clip of ``num_samples`` samples (>= 1): the rest is padding.

        The reference's attention-mask sum (``valid_frames`` option); every
        frame for most configurations.  Stacked rows (``stack_frames``) count
        once, as the rows of the output.

        >>> import melplug
        >>> fx = melplug.preset("parakeet")
        >>> fx.num_frames(16000), fx.valid_frames(16000)
        (101, 100)
        """
        n = check_int("num_samples", num_samples, 1)
        computed, rows = _geometry.plan_frames(self._plan, n)
        valid = int(_geometry.valid_count(self._plan, n, computed))
        plan = self._plan
        if _geometry.gathers(plan):  # a row every stack_stride frames
            return -(-min(valid, int(computed)) // plan.stack_stride)
        k = plan.stack_frames
        valid = min(valid, int(rows))
        return valid // k if self._engine_config["valid_rows"] == "all" else -(-valid // k)

    def stream(self):
        """A :class:`melplug.FeatureStream`: feed one clip in chunks, get each frame as soon as it is final.

        The frames of every ``accept`` and of ``finish``, joined along the
        time axis, equal ``self(clip)`` bit for bit.  A step that needs the
        whole clip (Keras' default ``top_db=80`` floor, normalisation, a fixed
        length, stacking, deltas) is a ``ValueError`` naming it and the causal
        alternative.

        Examples
        --------
        >>> import numpy as np
        >>> import melplug
        >>> fx = melplug.preset("kaldi")
        >>> s = fx.stream()
        >>> x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
        >>> parts = [s.accept(x[i : i + 1000]) for i in range(0, 16000, 1000)] + [s.finish()]
        >>> [p.shape[0] for p in parts[:3]], np.array_equal(np.concatenate(parts), fx(x))
        ([4, 7, 6], True)
        """
        from ._stream import FeatureStream

        return FeatureStream(self)

    def stream_pool(self, num_threads: int | None = None):
        """A :class:`melplug.StreamPool`: many streams of this extractor, each call one parallel call.

        Examples
        --------
        >>> import numpy as np
        >>> import melplug
        >>> pool = melplug.preset("kaldi").stream_pool()
        >>> a, b = pool.open(), pool.open()
        >>> [x.shape for x in pool.accept([a, b], [np.zeros(560, np.float32), np.zeros(400, np.float32)])]
        [(2, 23), (1, 23)]
        """
        from ._stream import StreamPool

        return StreamPool(self, num_threads)

    def frames_ready(self, num_samples: int) -> int:
        """Frames of a stream that are final after ``num_samples`` samples, before the end of the stream.

        A frame is final once its last sample has arrived: with centred
        frames ``frame_length // 2`` samples of look-ahead, and a reflected left
        edge needs more samples than it pads by.

        Examples
        --------
        >>> import melplug
        >>> melplug.preset("kaldi").frames_ready(560), melplug.preset("librosa").frames_ready(2048)
        (2, 3)
        """
        from ._stream import frames_ready

        return frames_ready(self, check_int("num_samples", num_samples, 0))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for an input of shape ``(..., samples)``: ``(..., num_mel_bins, frames)`` or the layout's.

        Unknown sizes (``None``) stay unknown, as in Keras: ``(2, None)`` gives
        ``(2, num_mel_bins, None)``; a fixed output stays fixed:

        >>> import melplug
        >>> melplug.preset("whisper").compute_output_shape((2, None))
        (2, 80, 3000)
        """
        shape = tuple(input_shape)
        if not shape:
            raise ValueError("input_shape must have at least one dimension (samples)")
        if shape[-1] is not None:
            shape = (*shape[:-1], check_int("num_samples", shape[-1], 1))
        return _geometry.output_shape(self._plan, shape)

    def _example_shape(self, frames) -> tuple:
        """Per-example output shape for ``frames`` output frames (stacked rows for ``stack_frames > 1``)."""
        return _geometry.example_shape(self._plan, frames)

    # ----------------------------------------------------------------- configuration

    def get_config(self) -> dict[str, Any]:
        """Every option by name (Keras' keys for :class:`MelSpectrogram`, resolved); JSON-serialisable."""
        return {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in self._config.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FeatureExtractor:
        """Build from :meth:`get_config` output or a Keras ``MelSpectrogram`` layer's config.

        Keras' layer keys (``name``, ``trainable``, ...) and a Keras dtype
        policy under ``dtype`` are ignored; any other ``dtype`` is validated
        like the constructor's; other unknown keys raise ``TypeError``.
        """
        return cls(**_config.from_mapping(config, cls._config_keys()))

    def replace(self, **changes: Any) -> FeatureExtractor:
        """A new extractor of the same class with some options changed (the others as they are).

        >>> import melplug
        >>> melplug.preset("kaldi").replace(num_mel_bins=80).num_mel_bins
        80
        """
        known = self._config_keys()
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise TypeError(f"replace() got unknown option(s) {unknown}; the options are {', '.join(known)}")
        return type(self).from_config({**self.get_config(), **changes})

    def __repr__(self) -> str:
        parts = []
        for key, value in self._config.items():
            if isinstance(value, np.ndarray):
                parts.append(f"{key}=<array of {value.shape[0]}>")
            else:
                parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, FeatureExtractor):
            return NotImplemented
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self), repr(self)))  # the options are fixed, and equal objects have equal reprs

    def __reduce__(self):
        # Pickles carry the options by name, never the plan: unpickling rebuilds the plan (in whatever
        # melplug version loads it), so mixed versions cannot mis-assign plan fields.
        return (_rebuild, (type(self), self.get_config()))

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickles written before options were pickled by name hold {"config": ..., "plan": ...}: the plan
        # (positional, of that version's fields) is dropped and rebuilt from the options.
        self._restore(state["config"])

    def _restore(self, config: Mapping[str, Any]) -> None:
        """Adopt the options in ``config`` (the others at their defaults), validated, without the warning."""
        options = _config.from_mapping(config, self._config_keys())
        self._configure(self._resolve({**self._defaults(), **options}), warn=False)

    # ----------------------------------------------------------------- computing

    def __call__(self, audio, *, sampling_rate: float | None = None, num_threads: int | None = None):
        """Features of ``audio``.

        Parameters
        ----------
        audio : array_like of shape (..., samples), or list of 1-D array_like
            Real samples.  An array gives an array of shape
            ``(..., num_mel_bins, frames)`` (or the extractor's per-example
            layout); a list of clips (lengths may differ) gives a list of
            per-clip arrays, computed in one parallel call.
        sampling_rate : real, optional
            The audio's sampling rate, checked as transformers' extractors
            check it: a rate other than the extractor's is a ``ValueError``
            (melplug does not resample).
        num_threads : int >= 1, optional
            Threads for this call only (default: the object's ``num_threads``).
        """
        if sampling_rate is not None:
            self._check_rate(sampling_rate)
        return _call.call(self, audio, num_threads)

    def _check_rate(self, sampling_rate) -> None:
        """A call's ``sampling_rate=`` must be the extractor's (a number; equal as numbers)."""
        mine = self._engine_config["sampling_rate"]
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"sampling_rate must be a number (Hz) or None; received {sampling_rate!r}")
        if sampling_rate != mine:
            raise ValueError(
                f"sampling_rate={sampling_rate!r} is not this extractor's rate, {mine!r} Hz: it computes features "
                f"of {mine!r} Hz audio; resample the audio to {mine!r} Hz or build an "
                "extractor for that rate"
            )

    def _check_length(self, num_samples: int, where: str) -> None:
        """Refuse clips too short for their output: too few frames to normalise, or none for a fixed output."""
        message = _geometry.length_error(self._plan, num_samples, where)
        if message is not None:
            raise ValueError(message)

    def _fast_call(self, audio, threads: int | None):
        """``self(audio, num_threads=threads)`` for adapters' hot paths, or ``None`` (see :func:`._call.fast_call`)."""
        return _call.fast_call(self, audio, threads)


class MelSpectrogram(FeatureExtractor):
    """Keras-exact mel spectrograms computed by parallel Numba kernels.

    The 13 arguments, their defaults and the numbers are those of
    ``keras.layers.MelSpectrogram``; see ``docs/parity.md`` for the few
    deliberate differences.

    Parameters
    ----------
    fft_length : int >= 1
        FFT size; ``fft_length // 2 + 1`` frequency bins.
    sequence_stride : int >= 1
        Samples between successive frames.
    sequence_length : int in [1, fft_length] or None
        Window length; ``None`` means ``fft_length``.
    window : {"hann", "hamming"}, None or array of shape (sequence_length,)
        Periodic Hann/Hamming, rectangular (``None``) or the given window.
    sampling_rate : real > 0
        Sampling rate of the audio in Hz.
    num_mel_bins : int >= 1
        Number of mel bands.
    min_freq : real >= 0
        Lower edge of the lowest band in Hz.
    max_freq : real > min_freq, or None
        Upper edge of the highest band; ``None`` means ``int(sampling_rate / 2)``.
    power_to_db : bool
        Convert to decibels.
    top_db : real >= 0 or None
        Floor at ``max - top_db`` (dB); ``None`` disables the floor.
    mag_exp : real > 0
        Exponent of the magnitude (2: power, 1: magnitude).
    min_power : real > 0
        Clamp applied before the logarithm.
    ref_power : real
        Reference: ``10 log10(S / max(|ref_power|, min_power))``.
    top_db_scope : {"example", "batch"}, keyword-only
        Where ``max`` is taken for the ``top_db`` floor: per example (default,
        independent of batching) or over the whole call (Keras).
    dtype : {None, "float32", "float64"}, keyword-only
        Compute and output dtype; ``None`` means float64 for float64 audio and
        float32 otherwise.
    on_nonfinite : {"raise", "propagate"}, keyword-only
        NaN/Inf in the audio raise ``ValueError`` naming the example, or turn
        that example's output to NaN.
    num_threads : int >= 1 or None, keyword-only
        Threads used by this object's calls; ``None`` means Numba's configured
        count (``NUMBA_NUM_THREADS`` or the usable cores).

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> mel = melplug.MelSpectrogram(num_mel_bins=80, fft_length=512,
    ...                              sequence_length=400, sequence_stride=160)
    >>> audio = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    >>> out = mel(audio)
    >>> out.shape, out.dtype
    ((2, 80, 101), dtype('float32'))
    >>> [m.shape for m in mel([audio[0], audio[1, :8000]])]
    [(80, 101), (80, 51)]
    >>> mel.num_frames(16000)
    101
    """

    def __init__(
        self,
        fft_length: int = 2048,
        sequence_stride: int = 512,
        sequence_length: int | None = None,
        window: str | npt.ArrayLike | None = "hann",
        sampling_rate: float = 16000,
        num_mel_bins: int = 128,
        min_freq: float = 20.0,
        max_freq: float | None = None,
        power_to_db: bool = True,
        top_db: float | None = 80.0,
        mag_exp: float = 2.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        *,
        top_db_scope: Literal["example", "batch"] = "example",
        dtype: str | None = None,
        on_nonfinite: Literal["raise", "propagate"] = "raise",
        num_threads: int | None = None,
    ) -> None:
        args = {name: value for name, value in locals().items() if name != "self"}
        self._configure(self._resolve(args), warn=True)

    _resolve = staticmethod(_config.resolve)
    _engine = staticmethod(_config.keras_to_engine)


def _rebuild(cls: type[FeatureExtractor], config: dict[str, Any]) -> FeatureExtractor:
    """Unpickle: the extractor of ``config`` (validated again; no construction warning)."""
    obj = cls.__new__(cls)
    obj._restore(config)
    return obj


def _defaults(kind) -> dict[str, Any]:
    params = inspect.signature(MelSpectrogram.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is kind and p.name != "self"}


#: Keras' 13 arguments and their defaults, in Keras' order (read from the constructor: one home).
KERAS_DEFAULTS: dict[str, Any] = _defaults(inspect.Parameter.POSITIONAL_OR_KEYWORD)
#: melplug's keyword-only extras and their defaults.
EXTRA_DEFAULTS: dict[str, Any] = _defaults(inspect.Parameter.KEYWORD_ONLY)


def mel_spectrogram(audio, **kwargs):
    """Functional form: ``MelSpectrogram(**kwargs)(audio)``.

    Accepts every argument of :class:`MelSpectrogram`.  Objects are reused
    between calls whose arguments are plain scalars of the same types and
    values (``512`` and ``512.0`` are different keys, so every call is
    validated exactly like the constructor would).

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> audio = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    >>> melplug.mel_spectrogram(audio, num_mel_bins=64, sequence_stride=256).shape
    (64, 63)
    """
    return _cached_layer(kwargs)(audio)


_LAYERS: dict = {}
_KEY_TYPES = (int, float, str, bool, type(None))


def _cached_layer(kwargs: dict) -> MelSpectrogram:
    if not all(type(value) in _KEY_TYPES for value in kwargs.values()):
        return MelSpectrogram(**kwargs)  # arrays, NumPy scalars, ...: not worth a key
    # The type is part of the key: 512 == 512.0 and 1 == True, but they do not validate alike.
    key = tuple(sorted((name, type(value).__name__, value) for name, value in kwargs.items()))
    layer = _LAYERS.get(key)
    if layer is None:
        layer = MelSpectrogram(**kwargs)
        if len(_LAYERS) >= 32:
            _LAYERS.clear()
        _LAYERS[key] = layer
    return layer
