"""Build the configured speech-to-text engine from settings and the model registry."""

from __future__ import annotations

from appliance.core.errors import ConfigError
from appliance.engines.stt import SttEngine
from appliance.models.registry import ModelRegistry
from appliance.settings import SttSettings


def load_stt(settings: SttSettings, registry: ModelRegistry) -> SttEngine:
    """Resolve the model (raising ModelError when it is missing) and load the engine ``stt.engine`` names."""
    # Engines import lazily: a Whisper box never loads Kaldi, a Vosk box never loads CTranslate2.
    if settings.engine == "whisper":
        from appliance.engines.stt.whisper import WhisperStt

        return WhisperStt(registry.resolve(settings.model), settings)
    if settings.engine == "vosk":
        if not settings.vosk_model:
            raise ConfigError(
                "config-value",
                "stt.engine = 'vosk' needs stt.vosk_model: a manifest name (e.g. 'vosk-small-en-us') or a directory",
            )
        from appliance.engines.stt.vosk import VoskStt

        return VoskStt(registry.resolve(settings.vosk_model), settings)
    raise ConfigError("config-value", f"stt.engine = {settings.engine!r} is not one of: whisper, vosk")
