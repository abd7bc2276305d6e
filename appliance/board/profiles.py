"""Board profiles (``hardware/*.toml``): GPIO pins, ALSA devices and the camera pipeline per board.

A profile is data only; :mod:`appliance.board.gpio` turns its buttons and LEDs into
gpiozero devices.  Every mistake in a profile is a :class:`ConfigError` naming
the file, the key, the value and what is allowed (exit code 78).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.core.errors import ConfigError
from appliance.settings import Settings, read_toml

PROFILE_DIRS = (Path(__file__).resolve().parents[2] / "hardware", Path("/etc/appliance/hardware"))
"""Where profile names are looked up: the installed tree's hardware/, then local boards."""

PIN_FACTORIES = ("lgpio", "jetson", "mock", "none")
BUTTONS = ("mute", "action", "camera")
BUTTON_MODES = ("momentary", "toggle", "switch")
LED_KINDS = ("none", "rgb", "mono")


@dataclass(frozen=True)
class ButtonSpec:
    pin: int
    """BCM GPIO number."""
    mode: str = "momentary"
    """``momentary`` (press/hold), ``toggle`` (each press flips a state) or ``switch`` (closed = on)."""
    pull_up: bool = True
    """True: the button connects the pin to GND (pressed reads low)."""
    bounce_s: float = 0.05
    """Seconds of contact bounce ignored after an edge."""


@dataclass(frozen=True)
class LedSpec:
    kind: str = "none"
    """``rgb`` (one RGB LED), ``mono`` (a status LED and a mute LED) or ``none``."""
    red: int | None = None
    green: int | None = None
    blue: int | None = None
    status: int | None = None
    mute: int | None = None
    active_high: bool = True
    pwm: bool = True
    """False where the pins cannot dim (Jetson): patterns then blink instead of fading."""


@dataclass(frozen=True)
class CameraSpec:
    device: str = ""
    """V4L2 device node, e.g. /dev/video0."""
    pipeline: str = ""
    """GStreamer pipeline ending in appsink (CSI cameras: libcamerasrc, nvarguscamerasrc)."""


@dataclass(frozen=True)
class BoardProfile:
    name: str
    gpio: str
    """Pin factory: lgpio, jetson, mock or none."""
    path: Path | None = None
    input_device: str = "default"
    output_device: str = "default"
    camera: CameraSpec = field(default_factory=CameraSpec)
    buttons: Mapping[str, ButtonSpec] = field(default_factory=dict)
    leds: LedSpec = field(default_factory=LedSpec)

    @property
    def has_gpio(self) -> bool:
        return self.gpio != "none" and (bool(self.buttons) or self.leds.kind != "none")

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


def find_profile(name: str, dirs: tuple[Path, ...] = PROFILE_DIRS) -> Path:
    """A profile name (``raspberry-pi-5``) or a path to a .toml file."""
    if "/" in name or name.endswith(".toml"):
        return Path(name).expanduser()
    for folder in dirs:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise ConfigError("config-choice", f"hardware.profile = {name!r} is not allowed: choose one of {', '.join(known)}")


GENERIC = BoardProfile(name="Generic Linux", gpio="none")
"""What ``generic-linux`` means when the hardware/ folder is not installed (a bare wheel)."""


def load_profile(name: str, *, gpio_override: str = "auto", dirs: tuple[Path, ...] = PROFILE_DIRS) -> BoardProfile:
    """Read and validate a board profile; ``gpio_override`` (hardware.gpio) replaces its pin factory."""
    if name == "generic-linux" and not any((d / "generic-linux.toml").is_file() for d in dirs):
        return GENERIC
    path = find_profile(name, dirs)
    raw = read_toml(path)
    where = path.name
    _only(raw, ("board", "audio", "camera", "buttons", "leds"), where, "")
    board = _table(raw, "board", where)
    audio = _table(raw, "audio", where)
    camera = _table(raw, "camera", where)
    gpio = _choice(board, "gpio", where, "board.", PIN_FACTORIES, "none")
    if gpio_override != "auto":
        gpio = gpio_override
    profile = BoardProfile(
        name=_string(board, "name", where, "board.", path.stem),
        gpio=gpio,
        path=path,
        input_device=_string(audio, "input_device", where, "audio.", "default"),
        output_device=_string(audio, "output_device", where, "audio.", "default"),
        camera=CameraSpec(
            device=_string(camera, "device", where, "camera.", ""),
            pipeline=_string(camera, "pipeline", where, "camera.", ""),
        ),
        buttons=_buttons(_table(raw, "buttons", where), where),
        leds=_leds(_table(raw, "leds", where), where),
    )
    _check_unique_pins(profile, where)
    return profile


def apply_profile(settings: Settings, profile: BoardProfile) -> Settings:
    """Use the profile's ALSA devices where the configuration leaves them at 'default'."""
    audio = settings.audio
    source = profile.input_device if audio.input_device == "default" else audio.input_device
    sink = profile.output_device if audio.output_device == "default" else audio.output_device
    if (source, sink) == (audio.input_device, audio.output_device):
        return settings
    return dataclasses.replace(settings, audio=dataclasses.replace(audio, input_device=source, output_device=sink))


# -- validation -----------------------------------------------------------------


def _buttons(table: Mapping[str, Any], where: str) -> dict[str, ButtonSpec]:
    _only(table, BUTTONS, where, "buttons.")
    buttons = {}
    for name, spec in table.items():
        prefix = f"buttons.{name}."
        if not isinstance(spec, Mapping):
            raise ConfigError("config-type", f"{where}: buttons.{name} must be a table, got {spec!r}")
        _only(spec, ("pin", "mode", "pull_up", "bounce_s"), where, prefix)
        default_mode = {"mute": "toggle", "camera": "switch"}.get(name, "momentary")
        buttons[name] = ButtonSpec(
            pin=_pin(spec, "pin", where, prefix, required=True),  # type: ignore[arg-type]
            mode=_choice(spec, "mode", where, prefix, BUTTON_MODES, default_mode),
            pull_up=_bool(spec, "pull_up", where, prefix, True),
            bounce_s=_number(spec, "bounce_s", where, prefix, 0.05, 0.0, 1.0),
        )
    if "action" in buttons and buttons["action"].mode != "momentary":
        raise ConfigError("config-choice", f"{where}: buttons.action.mode must be 'momentary' (short/long press)")
    return buttons


def _leds(table: Mapping[str, Any], where: str) -> LedSpec:
    keys = ("kind", "red", "green", "blue", "status", "mute", "active_high", "pwm")
    _only(table, keys, where, "leds.")
    kind = _choice(table, "kind", where, "leds.", LED_KINDS, "none")
    needed = {"rgb": ("red", "green", "blue"), "mono": ("status",), "none": ()}[kind]
    pins = {key: _pin(table, key, where, "leds.", required=key in needed) for key in keys[1:6]}
    return LedSpec(
        kind=kind,
        active_high=_bool(table, "active_high", where, "leds.", True),
        pwm=_bool(table, "pwm", where, "leds.", True),
        **pins,
    )


def _check_unique_pins(profile: BoardProfile, where: str) -> None:
    used: dict[int, str] = {}
    leds = profile.leds
    named = [(f"buttons.{n}.pin", b.pin) for n, b in profile.buttons.items()]
    named += [(f"leds.{k}", getattr(leds, k)) for k in ("red", "green", "blue", "status", "mute")]
    for key, pin in named:
        if pin is None:
            continue
        if pin in used:
            raise ConfigError("config-range", f"{where}: {key} = {pin} is already used by {used[pin]}")
        used[pin] = key


def _only(table: Mapping[str, Any], allowed: tuple[str, ...], where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                "config-unknown-key", f"{where}: unknown key {prefix}{key}; allowed keys: {', '.join(allowed)}"
            )


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError("config-type", f"{where}: [{key}] must be a table, got {value!r}")
    return value


def _string(table: Mapping[str, Any], key: str, where: str, prefix: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError("config-type", f"{where}: {prefix}{key} = {value!r} is not allowed: expected a string")
    return value


def _choice(table: Mapping[str, Any], key: str, where: str, prefix: str, allowed: tuple[str, ...], default: str) -> str:
    value = _string(table, key, where, prefix, default)
    if value not in allowed:
        raise ConfigError(
            "config-choice", f"{where}: {prefix}{key} = {value!r} is not allowed: choose one of {', '.join(allowed)}"
        )
    return value


def _bool(table: Mapping[str, Any], key: str, where: str, prefix: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError("config-type", f"{where}: {prefix}{key} = {value!r} is not allowed: expected true or false")
    return value


def _number(
    table: Mapping[str, Any], key: str, where: str, prefix: str, default: float, low: float, high: float
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError("config-range", f"{where}: {prefix}{key} = {value!r} is not allowed: a number {low}..{high}")
    return float(value)


def _pin(table: Mapping[str, Any], key: str, where: str, prefix: str, *, required: bool) -> int | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError("config-missing", f"{where}: {prefix}{key} is required (a BCM GPIO number 0..53)")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 53:
        raise ConfigError("config-range", f"{where}: {prefix}{key} = {value!r} is not allowed: a BCM GPIO number 0..53")
    return value
