"""Home Assistant as a feature: the token read at start (and on a reload), the link's supervised loop, ``status``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.core.errors import ConfigError
from appliance.core.feature import Feature, Loop
from appliance.home.assistant import HaDevice
from appliance.integrations.home_assistant.link import HomeAssistantLink
from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)

MAX_TOKEN = 4096
"""A long-lived token is a JWT of a few hundred characters."""


def read_token(path: str) -> str:
    """The first line of ``home_assistant.token_file``; a ConfigError naming the setting and path, never the content."""
    try:
        with open(Path(path).expanduser(), encoding="utf-8") as handle:
            lines = handle.read(MAX_TOKEN + 1).strip().splitlines()
    except OSError as err:
        message = f"home_assistant.token_file = {path!r} cannot be read: {err.strerror}"
        raise ConfigError("config-file", message) from err
    except UnicodeDecodeError:
        raise ConfigError("config-file", f"home_assistant.token_file = {path!r} is not text") from None
    token = lines[0].strip() if lines else ""
    if not token or len(token) > MAX_TOKEN or any(c.isspace() for c in token):
        raise ConfigError(
            "config-file", f"home_assistant.token_file = {path!r} holds no access token (one line, no spaces)"
        )
    return token


class HomeAssistantFeature(Feature):
    """The home's devices from Home Assistant (docs/home_assistant.md)."""

    name = "home_assistant"

    def __init__(self, settings: Settings, on_devices: Callable[[Sequence[HaDevice]], None] | None = None) -> None:
        cfg = settings.home_assistant
        self._listeners: list[Callable[[Sequence[HaDevice]], None]] = [on_devices] if on_devices else []
        self.link = HomeAssistantLink(
            cfg, read_token(cfg.token_file), on_devices=self._devices, language=settings.understanding.language
        )

    def follow(self, listener: Callable[[Sequence[HaDevice]], None]) -> None:
        """Call ``listener`` with the usable devices after every load (home control's :meth:`set_remote`)."""
        self._listeners.append(listener)

    def _devices(self, devices: Sequence[HaDevice]) -> None:
        for listener in self._listeners:
            listener(devices)

    def loops(self) -> Mapping[str, Loop]:
        return {"home_assistant": self.link.run}

    def status(self) -> Mapping[str, Any]:
        return self.link.status()

    def apply(self, settings: Settings) -> list[str]:
        """A reloaded ``[home_assistant]`` live: the token file is read again, ``expose`` applies at once, a new
        url, token or timeout reconnects. Turning it off (url "") or a token file that cannot be read needs a
        restart (``needs_restart`` of the reload's answer); until then the link goes on as it was."""
        cfg = settings.home_assistant
        if not cfg.enabled:
            return []
        try:
            token = read_token(cfg.token_file)
        except ConfigError as err:
            _LOGGER.warning("Home Assistant keeps its settings until a restart: %s", err.message)
            return []
        self.link.reconfigure(cfg, token)
        return ["home_assistant"]
