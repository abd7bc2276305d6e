"""Coded errors: one class per stage, translated at stage boundaries.

Every error carries a short machine code (``stt-failed``) and a human message.
Stages raise their own subclass with ``raise SttError(...) from err`` so the
cause stays attached while callers only need to know one base class.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h


class ApplianceError(Exception):
    """Base class: a code for machines, a message for people."""

    exit_code = EXIT_RUNTIME

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """The wire form used by the control socket and MQTT."""
        return {"code": self.code, "message": self.message}


class ConfigError(ApplianceError):
    """A bad configuration key or value; start-up stops with exit 78."""

    exit_code = EXIT_CONFIG


class UsageError(ApplianceError):
    """A bad command-line or command argument."""

    exit_code = EXIT_USAGE


class ModelError(ApplianceError):
    """A model that is missing, corrupt or cannot be loaded."""


class AudioError(ApplianceError):
    """Capture, playback or audio-file problems."""


class WakeError(ApplianceError):
    """Wake-word engine failures."""


class VadError(ApplianceError):
    """Voice-activity detector failures."""


class SttError(ApplianceError):
    """Speech-to-text failures."""


class LlmError(ApplianceError):
    """Language-model failures."""


class TtsError(ApplianceError):
    """Text-to-speech failures."""


class VisionError(ApplianceError):
    """Camera, image-file or vision-detector problems."""


class MemoryStoreError(ApplianceError):
    """The memory database: corrupt, too new, busy, or a bad import/restore."""


class CommandError(ApplianceError):
    """A command that was refused: bad payload, wrong state, rate limit."""


class ControlError(ApplianceError):
    """Control-socket transport problems (daemon not running, bad reply)."""


class HardwareError(ApplianceError):
    """GPIO buttons and LEDs that cannot be opened (the voice loop runs on without them)."""
