"""``<state_dir>/models/selected.json`` (0600): the model chosen per role, the one before it, and the history.

A choice made with ``models use`` wins over the config file only while the
file still says what it said when the choice was made (``over``): editing the
file's model and reloading or restarting is a newer decision, and wins.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)

HISTORY_MAX = 200
"""Swaps kept in the history (oldest dropped)."""


@dataclass(frozen=True)
class Selection:
    """One model swapped in for one role."""

    role: str
    ref: str
    """Manifest name or path, as the settings would hold it."""
    name: str
    version: str
    sha256: str
    swapped_in: float
    """Unix seconds."""
    over: str = ""
    """The config file's model for the role when this was chosen."""
    via: str = "use"
    """``use``, ``rollback`` or ``reload``."""


def configured_ref(settings: Settings, role: str) -> str:
    """The model the settings name for ``role`` (wake: the first word)."""
    if role == "llm":
        return settings.llm.model
    if role == "tts":
        return settings.tts.voice
    if role == "stt":
        return settings.stt.model if settings.stt.engine == "whisper" else settings.stt.vosk_model
    return settings.wake.models[0] if settings.wake.models else ""


def with_ref(settings: Settings, role: str, ref: str) -> Settings:
    """The settings with ``role``'s model replaced."""
    if role == "llm":
        return replace(settings, llm=replace(settings.llm, model=ref))
    if role == "tts":
        return replace(settings, tts=replace(settings.tts, voice=ref))
    if role == "stt":
        stt = settings.stt
        return replace(
            settings, stt=replace(stt, model=ref) if stt.engine == "whisper" else replace(stt, vosk_model=ref)
        )
    return replace(settings, wake=replace(settings.wake, models=(ref,)))


class ModelState:
    """Load, change and save selected.json; every change is written at once (atomically, 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.selected: dict[str, Selection] = {}
        self.previous: dict[str, Selection] = {}
        self.history: list[Selection] = []
        self._load()

    @classmethod
    def for_settings(cls, settings: Settings) -> ModelState:
        return cls(settings.state_dir / "models" / "selected.json")

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.selected = {k: Selection(**v) for k, v in raw.get("selected", {}).items()}
            self.previous = {k: Selection(**v) for k, v in raw.get("previous", {}).items()}
            self.history = [Selection(**v) for v in raw.get("history", [])]
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as err:  # a damaged file must not stop the daemon
            _LOGGER.warning("Ignoring unreadable %s: %s", self.path, err)

    def save(self) -> None:
        data: dict[str, Any] = {
            "selected": {k: asdict(v) for k, v in self.selected.items()},
            "previous": {k: asdict(v) for k, v in self.previous.items()},
            "history": [asdict(v) for v in self.history[-HISTORY_MAX:]],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def record(self, selection: Selection, *, running: Selection | None) -> None:
        """``selection`` is now in use; ``running`` (what it replaced) becomes the rollback target."""
        if running is not None:
            self.previous[selection.role] = running
        self.selected[selection.role] = selection
        self.history.append(selection)
        self.save()

    def effective(self, settings: Settings) -> Settings:
        """The settings with each remembered choice whose file value is unchanged since it was made."""
        for role, chosen in self.selected.items():
            if configured_ref(settings, role) != chosen.over or chosen.ref == chosen.over:
                continue
            if _is_path(chosen.ref) and not Path(chosen.ref).expanduser().exists():  # deleted since: the file wins
                _LOGGER.warning("The %s model chosen earlier, %s, is gone; using %s", role, chosen.ref, chosen.over)
                continue
            settings = with_ref(settings, role, chosen.ref)
        return settings


def _is_path(ref: str) -> bool:
    return "/" in ref or ref.endswith((".gguf", ".onnx", ".tflite"))
