"""Vosk (Kaldi) streaming speech-to-text: decodes while the user speaks.

A session feeds each chunk to a ``KaldiRecognizer`` and reports the growing
partial text, so the final result costs little after the end of speech.  An
optional phrase list compiles a small grammar that restricts what can be heard.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import vosk

from appliance.audio import SAMPLE_RATE
from appliance.core.errors import ConfigError, ModelError, SttError
from appliance.engines.stt import PartialCallback, SttResult
from appliance.settings import SttSettings

_LOGGER = logging.getLogger(__name__)

UNKNOWN = "[unk]"
"""Vosk's catch-all word: lets a grammar hear 'something else' instead of forcing a phrase."""


class VoskStt:
    """Vosk speech-to-text with streaming partial results."""

    name = "vosk"
    supports_speculation = False

    def __init__(self, model_dir: Path, settings: SttSettings) -> None:
        self.settings = settings
        vosk.SetLogLevel(-1)  # Kaldi logs every model component at load otherwise
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as err:  # vosk raises a bare Exception on load failure
            raise ModelError("model-load-failed", f"cannot load the Vosk model in {model_dir}: {err}") from err
        self._grammar = self._grammar_json(settings.vosk_phrases)
        _LOGGER.info("Vosk loaded from %s%s", model_dir, " with a phrase list" if self._grammar else "")

    def _grammar_json(self, phrases: tuple[str, ...]) -> str | None:
        """The phrase list as Vosk grammar JSON, keeping only phrases whose words the model knows."""
        if not phrases:
            return None
        phrases = tuple(" ".join(p.lower().split()) for p in phrases)  # model vocabularies are lower case
        known = [p for p in phrases if self._knows(p)]
        for phrase in sorted(set(phrases) - set(known)):
            _LOGGER.warning("Vosk model does not know every word of %r; phrase ignored", phrase)
        if not known:
            raise ConfigError(
                "config-value", f"stt.vosk_phrases = {list(phrases)!r}: this Vosk model knows none of them"
            )
        if self._model.vosk_model_find_word(UNKNOWN) >= 0:
            known.append(UNKNOWN)
        return json.dumps(known, ensure_ascii=False)

    def _knows(self, phrase: str) -> bool:
        words = phrase.split()
        return bool(words) and all(self._model.vosk_model_find_word(w) >= 0 for w in words)

    def session(self, on_partial: PartialCallback | None = None) -> VoskSession:
        """A streaming session; ``on_partial`` gets the text so far whenever it changes."""
        try:
            if self._grammar is None:
                recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
            else:
                recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, self._grammar)
        except Exception as err:  # vosk raises a bare Exception
            raise SttError("stt-failed", f"cannot create a Vosk recognizer: {err}") from err
        recognizer.SetWords(False)
        return VoskSession(recognizer, self.settings.language, on_partial)

    def transcribe(self, samples: np.ndarray) -> SttResult:
        """Whole utterance in (16 kHz mono int16), final text out."""
        started = time.perf_counter()
        session = self.session()
        session.feed(samples)
        result = session.finish()
        return SttResult(result.text, result.language, result.audio_s, time.perf_counter() - started)

    def warm_up(self) -> None:
        """Decode one second of silence so the first request does not pay for graph loading."""
        self.transcribe(np.zeros(SAMPLE_RATE, dtype=np.int16))


class VoskSession:
    """One utterance: chunks are decoded as they arrive."""

    def __init__(self, recognizer: vosk.KaldiRecognizer, language: str, on_partial: PartialCallback | None) -> None:
        self._recognizer = recognizer
        self._language = language
        self._on_partial = on_partial
        self._segments: list[str] = []  # text of segments Vosk closed at its own endpoints
        self._partial = ""
        self._samples = 0

    def feed(self, samples: np.ndarray) -> None:
        """Decode a chunk; report the partial text when it changed."""
        pcm = np.asarray(samples, dtype=np.int16).reshape(-1)
        self._samples += len(pcm)
        if self._recognizer.AcceptWaveform(pcm.tobytes()):
            # Vosk found a pause and closed a segment; FinalResult would only hold what follows.
            self._close_segment(json.loads(self._recognizer.Result()).get("text", ""))
            return
        partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
        self._report(self._joined(partial))

    def finish(self) -> SttResult:
        """Flush the recognizer; ``seconds`` is only this final step (decoding ran while audio arrived)."""
        started = time.perf_counter()
        self._close_segment(json.loads(self._recognizer.FinalResult()).get("text", ""))
        return SttResult(
            text=self._joined(""),
            language=self._language,
            audio_s=self._samples / SAMPLE_RATE,
            seconds=time.perf_counter() - started,
        )

    def _close_segment(self, text: str) -> None:
        if text.strip():
            self._segments.append(text)
        self._report(self._joined(""))

    def _joined(self, partial: str) -> str:
        # "[unk]" is the grammar's "something else": callers want the words only.
        words = " ".join([*self._segments, partial]).split()
        return " ".join(w for w in words if w != UNKNOWN)

    def _report(self, text: str) -> None:
        if text and text != self._partial:
            self._partial = text
            if self._on_partial is not None:
                self._on_partial(text)
