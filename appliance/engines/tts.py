"""Text-to-speech with a Piper voice (piper-tts, onnxruntime).

``synthesize(text)`` yields int16 audio per sentence at the voice's rate; the
reply path calls it once per chunk from the sentence chunker, so the first
sentence plays while the LLM is still writing the rest.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from appliance.core.chunker import speakable, split_for_speech
from appliance.core.control_chars import strip_control_chars
from appliance.core.errors import TtsError
from appliance.core.procstat import ShrinkingSession
from appliance.settings import TtsSettings

_LOGGER = logging.getLogger(__name__)


class PiperTts:
    """A loaded Piper voice with a thread-limited onnxruntime session."""

    def __init__(self, model_path: Path, settings: TtsSettings, *, use_cuda: bool = False) -> None:
        try:
            import onnxruntime as ort
            from piper import PiperVoice
            from piper.config import PiperConfig, SynthesisConfig
        except ImportError as err:
            raise TtsError("tts-missing", "piper-tts is not installed; run scripts/setup") from err
        config_path = Path(f"{model_path}.json")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
            options = ort.SessionOptions()
            options.intra_op_num_threads = settings.threads
            options.inter_op_num_threads = 1
            # Its threads sleep between runs instead of spinning: the LLM generates on the other core meanwhile.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
            session = ort.InferenceSession(str(model_path), options, providers=providers)
        except (OSError, ValueError, KeyError) as err:
            raise TtsError("tts-load-failed", f"cannot load voice {model_path}: {err}") from err
        except Exception as err:
            raise TtsError("tts-load-failed", f"cannot load voice {model_path}: {err}") from err
        self._voice = PiperVoice(session=ShrinkingSession(session), config=config)  # type: ignore[arg-type]
        self._syn = SynthesisConfig(
            length_scale=settings.length_scale if settings.length_scale != 1.0 else None,
            noise_scale=config.noise_scale * settings.variation,
            noise_w_scale=config.noise_w_scale * settings.variation,
        )
        self.sample_rate = int(config.sample_rate)
        self.name = model_path.stem

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Int16 audio at :attr:`sample_rate`, one array per sentence Piper finds.

        Long sentences are split first (:data:`~appliance.core.chunker.SYNTH_MAX_CHARS`); control
        characters are dropped (a NUL fails Piper).  A failure's message says how long the text was,
        never what it said: it is logged at WARNING and published; the text is logged at DEBUG.
        """
        clean = speakable(strip_control_chars(text))
        if not clean:
            return
        try:
            for piece in split_for_speech(clean):  # bounded pieces: Piper's memory grows with the sentence
                for chunk in self._voice.synthesize(piece, self._syn):
                    yield chunk.audio_int16_array
        except Exception as err:
            _LOGGER.debug("Piper failed on %r: %s", clean, err)
            message = f"could not synthesize a text of {len(clean)} characters ({type(err).__name__})"
            raise TtsError("tts-failed", message) from err

    def synthesize_all(self, text: str) -> np.ndarray:
        """The whole text as one array."""
        parts = list(self.synthesize(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def warm_up(self) -> float:
        """Synthesize a word so onnxruntime has allocated everything; returns seconds."""
        start = time.perf_counter()
        self.synthesize_all("Ready.")
        return time.perf_counter() - start
