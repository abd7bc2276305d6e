"""Settings of the Assist satellite served over the ESPHome native API (``[esphome]``, docs/esphome.md)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.settings.spec import setting

PIPELINES = ("local", "home_assistant")
"""Who answers a request heard after the local wake word: this appliance, or Home Assistant's pipeline."""


@dataclass(frozen=True)
class EsphomeSettings:
    enabled: bool = setting(False, "Be an Assist satellite in Home Assistant over the ESPHome native API.")
    host: str = setting("127.0.0.1", "Bind address; 0.0.0.0 = all. Set encryption_key_file on a LAN.")
    port: int = setting(6053, "ESPHome API TCP port; 0 = any free port.", min=0, max=65535)
    encryption_key_file: str = setting(
        "",
        "File holding the API encryption key (base64 of 32 bytes, as ESPHome's api.encryption.key); "
        "set = Noise-encrypted clients only, empty = plaintext clients only. Never logged.",
    )
    name: str = setting("", "Device name Home Assistant shows; empty = appliance-<device id>.")
    announce: bool = setting(True, "Announce _esphomelib._tcp over zeroconf when bound to a LAN address.")
    pipeline: str = setting(
        "local",
        "local: this appliance answers and reports each turn to Home Assistant; home_assistant: after the local "
        "wake word, Home Assistant's Assist pipeline answers (this appliance's own, when Home Assistant cannot).",
        choices=PIPELINES,
    )
    max_clients: int = setting(4, "Connections at once; one more is closed as it is accepted.", min=1, max=64)
    idle_timeout_s: float = setting(
        90.0,
        "A connection that sends nothing (Home Assistant pings every 20 s), or leaves a frame half-sent, is closed.",
        unit="s",
        min=1.0,
        max=3600.0,
    )
    media_max_mb: float = setting(
        16.0, "Largest audio file fetched from Home Assistant for an announcement.", unit="MB", min=0.1, max=256.0
    )
    media_timeout_s: float = setting(
        20.0, "An announcement's audio must be fetched within this time.", unit="s", min=1.0, max=300.0
    )

    def __post_init__(self) -> None:
        if not self.host or any(ch.isspace() for ch in self.host):
            raise ValueError(f"host = {self.host!r} is not allowed: expected an address, e.g. 127.0.0.1 or 0.0.0.0")
        if len(self.name) > 31 or any(not (ch.isalnum() or ch in "-_") for ch in self.name):
            raise ValueError(f"name = {self.name!r} is not allowed: up to 31 letters, digits, '-' or '_'")
