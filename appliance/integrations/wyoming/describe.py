"""What this appliance serves, as the ``info`` answer to ``describe``: its STT, voice, wake words and conversation."""

from __future__ import annotations

import re
from pathlib import Path

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
    WakeModel,
    WakeProgram,
)

from appliance import __version__
from appliance.settings import Settings, wake_word_name

PROGRAM = "appliance"
"""The program name every service goes by (Home Assistant shows it beside the model)."""
_ATTRIBUTION = Attribution(name="appliance", url="")
_WHISPER = Attribution(name="OpenAI Whisper on CTranslate2", url="https://github.com/openai/whisper")
_VOSK = Attribution(name="Vosk", url="https://alphacephei.com/vosk/")
_PIPER = Attribution(name="Piper", url="https://github.com/rhasspy/piper")
_OPENWAKEWORD = Attribution(name="openWakeWord", url="https://github.com/dscripka/openWakeWord")
_PIPER_LANGUAGE = re.compile(r"^([a-z]{2,3})_([A-Z]{2})-")


def describe(settings: Settings) -> Info:
    """The ``info`` event's content for the running settings."""
    stt_language = settings.stt.language
    return Info(
        asr=[
            AsrProgram(
                name=f"{PROGRAM}-stt",
                attribution=_ATTRIBUTION,
                installed=True,
                description=f"The appliance's speech-to-text ({settings.stt.engine})",
                version=__version__,
                models=[_asr_model(settings)],
                supports_transcript_streaming=True,
            )
        ],
        tts=[
            TtsProgram(
                name=f"{PROGRAM}-tts",
                attribution=_ATTRIBUTION,
                installed=True,
                description="The appliance's Piper voice",
                version=__version__,
                voices=[_voice(settings.tts.voice, stt_language)],
                supports_synthesize_streaming=True,
            )
        ],
        wake=[
            WakeProgram(
                name=f"{PROGRAM}-wake",
                attribution=_ATTRIBUTION,
                installed=True,
                description="The appliance's openWakeWord models",
                version=__version__,
                models=[_wake_model(ref) for ref in settings.wake.models],
            )
        ],
        handle=[
            HandleProgram(
                name=f"{PROGRAM}-conversation",
                attribution=_ATTRIBUTION,
                installed=True,
                description="The appliance's own conversation: skills, memory, home control, its language model",
                version=__version__,
                models=[
                    HandleModel(
                        name=PROGRAM,
                        attribution=_ATTRIBUTION,
                        installed=True,
                        description="Skills, memory and the local language model",
                        version=__version__,
                        languages=[stt_language],
                    )
                ],
            )
        ],
    )


def voice_language(voice: str, fallback: str) -> str:
    """A Piper voice's language from its name (``en_US-joe-medium`` → ``en_US``), else ``fallback``."""
    match = _PIPER_LANGUAGE.match(Path(voice).name)
    return f"{match.group(1)}_{match.group(2)}" if match else fallback


def _asr_model(settings: Settings) -> AsrModel:
    model = settings.stt.model if settings.stt.engine == "whisper" else settings.stt.vosk_model
    return AsrModel(
        name=Path(model).name,
        attribution=_WHISPER if settings.stt.engine == "whisper" else _VOSK,
        installed=True,
        description=f"{settings.stt.engine} {Path(model).name}",
        version=None,
        languages=[settings.stt.language],
    )


def _voice(voice: str, fallback_language: str) -> TtsVoice:
    name = Path(voice).name.removesuffix(".onnx")
    return TtsVoice(
        name=name,
        attribution=_PIPER,
        installed=True,
        description=f"Piper {name}",
        version=None,
        languages=[voice_language(voice, fallback_language)],
    )


def _wake_model(ref: str) -> WakeModel:
    name = wake_word_name(ref)
    return WakeModel(
        name=name,
        attribution=_OPENWAKEWORD,
        installed=True,
        description=f"openWakeWord {name}",
        version=None,
        languages=["en"],
        phrase=name.replace("_", " "),
    )
