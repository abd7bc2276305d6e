"""Settings of the link to Home Assistant (``[home_assistant]``): where it is, the token's file, what may be used."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from appliance.settings.spec import setting

ACTED_DOMAINS = (
    "light",
    "switch",
    "fan",
    "input_boolean",
    "cover",
    "lock",
    "scene",
    "script",
    "sensor",
    "binary_sensor",
)
"""Domains the appliance switches, opens, locks, activates or reads itself (the default of ``expose``)."""
OTHER_DOMAINS = (
    "climate",
    "media_player",
    "vacuum",
    "valve",
    "humidifier",
    "water_heater",
    "button",
    "input_button",
    "lawn_mower",
    "todo",
    "person",
)
"""Domains Home Assistant's Assist knows that the appliance leaves to Home Assistant's own agent."""
AREA_PREFIX = "area:"


@dataclass(frozen=True)
class HomeAssistantSettings:
    url: str = setting("", "Home Assistant's address, http(s)://host:8123; empty = off (docs/home_assistant.md).")
    token_file: str = setting(
        "", "File holding a long-lived access token (first line); required with url. Never logged or shown."
    )
    expose: tuple[str, ...] = setting(
        ACTED_DOMAINS,
        "What may be used of the entities Home Assistant exposes to Assist: domains, and 'area:<name>' entries "
        "(none = every area).",
    )
    connect_timeout_s: float = setting(10.0, "Connecting and logging in.", unit="s", min=0.5, max=120.0)
    request_timeout_s: float = setting(
        10.0, "Waiting for one answer (a service call, a conversation).", unit="s", min=0.5, max=120.0
    )
    retry_max_s: float = setting(
        60.0, "Longest wait between reconnects (from 1 s, doubling, with jitter).", unit="s", min=1.0, max=3600.0
    )
    max_message_mb: float = setting(
        16.0, "Largest message taken from Home Assistant (the registries of a big home).", unit="MB", min=1.0, max=256.0
    )

    def __post_init__(self) -> None:
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(
                    f"url = {self.url!r} is not allowed: expected http(s)://host:port, e.g. http://homeassistant.local:8123"
                )
            if not self.token_file:
                raise ValueError("token_file = '' is not allowed with a url: name the file holding the access token")
        for item in self.expose:
            if item not in ACTED_DOMAINS + OTHER_DOMAINS and not (
                item.startswith(AREA_PREFIX) and item[len(AREA_PREFIX) :].strip()
            ):
                allowed = ", ".join(ACTED_DOMAINS + OTHER_DOMAINS)
                raise ValueError(f"expose = {item!r} is not allowed: allowed: a domain ({allowed}) or 'area:<name>'")

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(i for i in self.expose if not i.startswith(AREA_PREFIX))

    @property
    def areas(self) -> frozenset[str]:
        """Allowed areas, lower case; empty = every area."""
        return frozenset(i[len(AREA_PREFIX) :].strip().lower() for i in self.expose if i.startswith(AREA_PREFIX))

    @property
    def websocket_url(self) -> str:
        """``ws(s)://host:port/api/websocket``."""
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}/api/websocket"
