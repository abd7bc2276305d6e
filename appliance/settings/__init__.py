"""Settings: one frozen dataclass per subsystem, loaded from TOML and the environment.

Every field carries its documentation, unit and allowed range in its metadata,
so validation, ``appliance config defaults`` and the table in docs/configuration.md all come from
one place.  A bad value raises :class:`ConfigError` naming the key, the value
and what is allowed; the CLI turns that into exit code 78.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from appliance.core.errors import ConfigError
from appliance.settings.esphome import EsphomeSettings
from appliance.settings.features import (
    ControlSettings,
    HardwareSettings,
    HomeDevice,
    LogSettings,
    MemorySettings,
    MetricsSettings,
    ModelSwapSettings,
    MqttSettings,
    RoomsSettings,
    SkillsSettings,
    UnderstandingSettings,
    VisionSettings,
    WyomingSettings,
    listen_address,
)
from appliance.settings.home_assistant import HomeAssistantSettings
from appliance.settings.spec import setting
from appliance.settings.voice import (
    BUILTIN_WAKE_WORDS,
    AudioSettings,
    DeviceSettings,
    LlmSettings,
    PathSettings,
    SttSettings,
    TtsSettings,
    VadSettings,
    WakeSettings,
    WakeTuning,
    wake_word_name,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "BUILTIN_WAKE_WORDS",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "AudioSettings",
    "ControlSettings",
    "DeviceSettings",
    "EsphomeSettings",
    "HardwareSettings",
    "HomeAssistantSettings",
    "HomeDevice",
    "LlmSettings",
    "LogSettings",
    "MemorySettings",
    "MetricsSettings",
    "ModelSwapSettings",
    "MqttSettings",
    "PathSettings",
    "RoomsSettings",
    "Settings",
    "SkillsSettings",
    "SttSettings",
    "TtsSettings",
    "UnderstandingSettings",
    "VadSettings",
    "VisionSettings",
    "WakeSettings",
    "WakeTuning",
    "WyomingSettings",
    "as_dict",
    "describe_defaults",
    "listen_address",
    "load_settings",
    "read_toml",
    "setting",
    "settings_from_dict",
    "tomllib",
    "wake_word_name",
]

ENV_PREFIX = "APPLIANCE_"
DEFAULT_CONFIG = Path("/etc/appliance/appliance.toml")


@dataclass(frozen=True)
class Settings:
    device: DeviceSettings = field(default_factory=DeviceSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    stt: SttSettings = field(default_factory=SttSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    vision: VisionSettings = field(default_factory=VisionSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    rooms: RoomsSettings = field(default_factory=RoomsSettings)
    skills: SkillsSettings = field(default_factory=SkillsSettings)
    understanding: UnderstandingSettings = field(default_factory=UnderstandingSettings)
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    models: ModelSwapSettings = field(default_factory=ModelSwapSettings)
    wyoming: WyomingSettings = field(default_factory=WyomingSettings)
    home_assistant: HomeAssistantSettings = field(default_factory=HomeAssistantSettings)
    esphome: EsphomeSettings = field(default_factory=EsphomeSettings)

    # -- derived values -------------------------------------------------
    @property
    def device_id(self) -> str:
        """The configured id, or a topic-safe one derived from the hostname."""
        raw = self.device.id or socket.gethostname() or "appliance"
        return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in raw.lower())

    @property
    def state_dir(self) -> Path:
        return _resolve_dir(self.paths.state_dir, "STATE_DIRECTORY", Path.home() / ".local" / "state" / "appliance")

    @property
    def cache_dir(self) -> Path:
        return _resolve_dir(self.paths.cache_dir, "CACHE_DIRECTORY", Path.home() / ".cache" / "appliance")

    @property
    def runtime_dir(self) -> Path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        fallback = Path(xdg) / "appliance" if xdg else Path(f"/tmp/appliance-{os.getuid()}")  # noqa: S108 - 0700, per user
        return _resolve_dir(self.paths.runtime_dir, "RUNTIME_DIRECTORY", fallback)

    @property
    def memory_path(self) -> Path:
        return self.state_dir / "memory.db"

    @property
    def socket_path(self) -> Path:
        return Path(self.control.socket) if self.control.socket else self.runtime_dir / "control.sock"


def _resolve_dir(configured: str, env_name: str, fallback: Path) -> Path:
    if configured:
        return Path(configured).expanduser()
    from_env = os.environ.get(env_name, "").split(":")[0]
    return Path(from_env) if from_env else fallback


# ---------------------------------------------------------------------------
# Loading and validation


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read TOML (if any) and ``APPLIANCE_<SECTION>_<KEY>`` overrides, then validate."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_toml(path)
    overrides = _env_overrides(env)
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return settings_from_dict(raw)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a config file, turning I/O and syntax problems into ConfigError."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as err:
        raise ConfigError("config-missing", f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("config-syntax", f"{path}: {err}") from err
    except OSError as err:
        raise ConfigError("config-unreadable", f"{path}: {err.strerror}") from err


def settings_from_dict(raw: Mapping[str, Any]) -> Settings:
    """Build validated Settings from a nested mapping (as parsed from TOML)."""
    sections = {f.name: f for f in fields(Settings)}
    built: dict[str, Any] = {}
    for section_name, values in raw.items():
        if section_name not in sections:
            allowed = ", ".join(sorted(sections))
            raise ConfigError("config-unknown-key", f"unknown section [{section_name}]; allowed sections: {allowed}")
        if not isinstance(values, Mapping):
            raise ConfigError("config-type", f"[{section_name}] must be a table, got {values!r}")
        section_cls = sections[section_name].default_factory  # type: ignore[misc]
        built[section_name] = _build_section(section_name, section_cls, values)
    return Settings(**built)


def _build_section(section: str, cls: Any, values: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            allowed = ", ".join(sorted(known))
            raise ConfigError("config-unknown-key", f"unknown key {section}.{key}; allowed keys: {allowed}")
        kwargs[key] = _coerce(f"{section}.{key}", value, hints[key], known[key].metadata)
    try:
        return cls(**kwargs)
    except ValueError as err:  # a dataclass's own check (required keys, cross-field rules)
        raise ConfigError("config-value", f"{section}: {err}") from err


def _coerce(key: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    if get_origin(hint) is tuple:
        item_type = get_args(hint)[0]
        if isinstance(item_type, type) and dataclasses.is_dataclass(item_type):
            return _coerce_tables(key, value, item_type)
        return _coerce_list(key, value, item_type)
    if hint is bool:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected true or false")
        return value
    if hint in (int, float):
        number = _to_number(key, value, hint)
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            unit = f" {meta['unit']}" if meta.get("unit") else ""
            raise ConfigError("config-range", f"{key} = {value!r} is out of range: allowed {low}..{high}{unit}")
        return number
    if not isinstance(value, str):
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected a string")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError("config-choice", f"{key} = {value!r} is not allowed: choose one of {', '.join(choices)}")
    return value


def _to_number(key: str, value: Any, hint: type) -> float | int:
    if isinstance(value, bool):
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected a number")
    try:
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        return float(value)
    except (TypeError, ValueError) as err:
        kind = "an integer" if hint is int else "a number"
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected {kind}") from err


def _coerce_list(key: str, value: Any, item_type: type) -> tuple[Any, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, item_type) for item in value):
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected a list of {item_type.__name__}")
    return tuple(value)


def _coerce_tables(key: str, value: Any, cls: type) -> tuple[Any, ...]:
    """An array of tables (``[[mqtt.devices]]``): each one validated like a section."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, Mapping) for item in value):
        raise ConfigError(
            "config-type", f"{key} = {value!r} is not allowed: expected [[{key}]] tables in the config file"
        )
    return tuple(_build_section(f"{key}[{i}]", cls, item) for i, item in enumerate(value))


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``APPLIANCE_WAKE_THRESHOLD=0.6`` -> ``{"wake": {"threshold": "0.6"}}``."""
    sections = {f.name for f in fields(Settings)}
    overrides: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in ("APPLIANCE_CONFIG",):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sorted(sections, key=len, reverse=True) if rest.startswith(s + "_")), None)
        if section is None:
            continue  # other APPLIANCE_* variables (e.g. test hooks) are not settings
        overrides.setdefault(section, {})[rest[len(section) + 1 :]] = value
    return overrides


# ---------------------------------------------------------------------------
# Documentation


def describe_defaults() -> str:
    """A commented TOML file with every key at its default (``appliance config defaults``)."""
    lines = ["# Appliance configuration. Every key is optional; shown at its default.", ""]
    for section in fields(Settings):
        lines.append(f"[{section.name}]")
        instance = section.default_factory()  # type: ignore[misc,operator]
        for item in fields(instance):
            meta = item.metadata
            allowed = _allowed_text(meta)
            lines.append(f"# {meta['doc']}{allowed}")
            lines.append(f"# {item.name} = {_toml_value(getattr(instance, item.name))}")
        lines.append("")
    return "\n".join(lines)


def _allowed_text(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(meta["choices"]))
    if meta.get("min") is not None:
        parts.append(f"{meta['min']}..{meta['max']}")
    if meta.get("unit"):
        parts.append(meta["unit"])
    return f" ({'; '.join(parts)})" if parts else ""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def as_dict(settings: Settings) -> dict[str, Any]:
    """Plain nested dict (``appliance config show``)."""
    return dataclasses.asdict(settings)
