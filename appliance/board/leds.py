"""LED drivers: show an indicator state on one RGB LED or on a status + mute LED pair (gpiozero)."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from appliance.board.indicator import PATTERNS, Pattern, scaled
from appliance.board.profiles import LedSpec

# Mono LEDs cannot show colour, so their states differ by rhythm instead.
_MONO: dict[str, Pattern] = {
    "idle": Pattern((0.0, 0.0, 0.0), "off"),
    "listening": Pattern((1.0, 1.0, 1.0), "solid"),
    "thinking": Pattern((1.0, 1.0, 1.0), "blink", 0.5),
    "speaking": Pattern((1.0, 1.0, 1.0), "pulse", 1.5),
    "muted": Pattern((1.0, 1.0, 1.0), "blink", 2.0),  # only without a mute LED
    "error": Pattern((1.0, 1.0, 1.0), "blink", 0.2),
}


class Leds(Protocol):
    def show(self, state: str) -> None: ...

    def close(self) -> None: ...


class NoLeds:
    def show(self, state: str) -> None:
        pass

    def close(self) -> None:
        pass


class RgbLeds:
    """One RGB LED: a colour and an effect per state."""

    def __init__(self, spec: LedSpec, factory: Any, brightness: float) -> None:
        from gpiozero import RGBLED

        self.pwm = spec.pwm
        self.brightness = brightness
        self.led = RGBLED(
            spec.red, spec.green, spec.blue, active_high=spec.active_high, pwm=spec.pwm, pin_factory=factory
        )

    def colour(self, state: str) -> tuple[float, float, float]:
        colour = scaled(PATTERNS[state].colour, self.brightness)
        if not self.pwm:  # on/off pins: each component is fully on or off
            r, g, b = (1.0 if c >= 0.5 * self.brightness and c > 0 else 0.0 for c in colour)
            return (r, g, b)
        return colour

    def show(self, state: str) -> None:
        pattern = PATTERNS[state]
        colour = self.colour(state)
        half = pattern.period_s / 2
        if pattern.effect == "off":
            self.led.off()
        elif pattern.effect == "solid":
            self.led.color = colour
        elif pattern.effect == "pulse" and self.pwm:
            self.led.pulse(fade_in_time=half, fade_out_time=half, on_color=colour)
        else:
            self.led.blink(on_time=half, off_time=half, on_color=colour)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.led.close()


class MonoLeds:
    """A status LED (rhythm per state) and an optional mute LED (lit while muted)."""

    def __init__(self, spec: LedSpec, factory: Any, brightness: float) -> None:
        from gpiozero import LED, PWMLED

        self.pwm = spec.pwm
        self.brightness = brightness
        status_cls = PWMLED if spec.pwm else LED
        self.status = status_cls(spec.status, active_high=spec.active_high, pin_factory=factory)
        self.mute = LED(spec.mute, active_high=spec.active_high, pin_factory=factory) if spec.mute is not None else None

    def show(self, state: str) -> None:
        if self.mute is not None:
            if state == "muted":
                self.mute.on()
                self.status.off()
                return
            self.mute.off()
        pattern = _MONO[state]
        half = pattern.period_s / 2
        if pattern.effect == "off":
            self.status.off()
        elif pattern.effect == "solid":
            if self.pwm:
                self.status.value = self.brightness
            else:
                self.status.on()
        elif pattern.effect == "pulse" and self.pwm:
            self.status.pulse(fade_in_time=half, fade_out_time=half)
        else:
            self.status.blink(on_time=half, off_time=half)

    def close(self) -> None:
        for led in (self.status, self.mute):
            if led is not None:
                with contextlib.suppress(Exception):
                    led.close()


def make_leds(spec: LedSpec, factory: Any, brightness: float) -> Leds:
    if factory is None or spec.kind == "none":
        return NoLeds()
    if spec.kind == "rgb":
        return RgbLeds(spec, factory, brightness)
    return MonoLeds(spec, factory, brightness)
