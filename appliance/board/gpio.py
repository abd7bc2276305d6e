"""Buttons and status LEDs on the board's GPIO header, through gpiozero.

The pin factory comes from the board profile: lgpio on a Raspberry Pi,
Jetson.GPIO's RPi.GPIO-compatible module on a Jetson, gpiozero's MockFactory
in tests, and nothing at all on a board without GPIO.  gpiozero calls back on
its own threads; every callback hops onto the event loop before it touches
the appliance (mute, the command layer, the bus).

- mute button: hardware privacy mute.  Capture stops at the source
  (``ControlApi.set_muted`` closes the microphone stream) and ``MuteChanged`` is
  published.  A latching switch also locks the mute: a guard on the ``mute``
  command refuses to unmute over the socket or MQTT while it is closed.
- action button: a short press listens (push-to-talk), a long press stops the reply.
- camera switch: the ``camera`` command, when vision registered it.  A latching
  switch is applied at boot, and while it is open guards refuse ``camera ON``
  and ``snapshot`` from anywhere else.
- LEDs: a pattern per state (:mod:`appliance.board.indicator`), following the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from appliance.board.indicator import IndicatorState
from appliance.board.leds import make_leds
from appliance.board.profiles import BoardProfile, ButtonSpec
from appliance.control import args as a
from appliance.core.errors import CommandError, HardwareError
from appliance.core.events import ErrorRaised, MuteChanged, StageChanged
from appliance.core.handoff import LoopHandoff
from appliance.settings import HardwareSettings

if TYPE_CHECKING:
    from appliance.control.api import ControlApi
    from appliance.control.commands import Commands
    from appliance.core.bus import Bus

_LOGGER = logging.getLogger(__name__)

# A 40-pin Raspberry Pi revision (4B, 4 GB): gpiozero only uses it to name header
# pins, and the Jetson header follows the same layout in Jetson.GPIO's BCM mode.
_PI_40PIN_REVISION = 0xC03111


def make_pin_factory(kind: str) -> Any:
    """The gpiozero pin factory for a profile's ``gpio`` value (None for ``none``)."""
    try:
        if kind == "none":
            return None
        if kind == "mock":
            from gpiozero.pins.mock import MockFactory, MockPWMPin

            return MockFactory(pin_class=MockPWMPin)
        if kind == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if kind == "jetson":
            return _jetson_factory()
    except ImportError as err:
        package = {"lgpio": "lgpio", "jetson": "Jetson.GPIO"}.get(kind, kind)
        raise HardwareError(
            "gpio-missing", f"pin factory {kind} needs the {package} package ({err}); scripts/install adds it"
        ) from err
    except Exception as err:  # gpiozero raises many kinds for a missing chip or no permission
        raise HardwareError("gpio-unavailable", f"cannot open GPIO with {kind}: {err}") from err
    raise HardwareError("gpio-unknown", f"unknown pin factory {kind!r}")


def _jetson_factory() -> Any:
    from gpiozero.pins.rpigpio import RPiGPIOFactory  # Jetson.GPIO provides the RPi.GPIO module

    class JetsonGPIOFactory(RPiGPIOFactory):  # type: ignore[misc]
        def _get_revision(self) -> int:
            return _PI_40PIN_REVISION

    return JetsonGPIOFactory()


class BoardControls:
    """The profile's buttons and LEDs, bound to the appliance."""

    def __init__(
        self,
        profile: BoardProfile,
        settings: HardwareSettings,
        factory: Any,
        *,
        control: ControlApi,
        commands: Commands,
        bus: Bus,
    ) -> None:
        self.profile = profile
        self.settings = settings
        self.factory = factory
        self.control = control
        self.commands = commands
        self.bus = bus
        self.indicator = IndicatorState(error_hold_s=settings.error_hold_s)
        self.leds = make_leds(profile.leds, factory, settings.led_brightness)
        self.buttons: dict[str, Any] = {}
        self.presses: dict[str, int] = {"listen": 0, "stop": 0, "mute": 0, "camera": 0}
        self.shown = ""
        self._hop = LoopHandoff()
        self._action_held = False
        self._camera_on = False
        self._camera_missing_logged = False

    # -- set-up ---------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the buttons and hook their callbacks (call on the event loop)."""
        self._hop.bind(loop)
        for name, spec in self.profile.buttons.items():
            try:
                self.buttons[name] = self._button(spec)
            except Exception as err:  # gpiozero: pin in use, invalid, no permission
                self.close()
                raise HardwareError("gpio-pin", f"{name} button on GPIO{spec.pin}: {err}") from err
        if "action" in self.buttons:
            self.buttons["action"].when_held = self._hop.wrap(self._action_long)
            self.buttons["action"].when_released = self._hop.wrap(self._action_released)
        if "mute" in self.buttons:
            self._bind_mute(self.buttons["mute"], self.profile.buttons["mute"])
        if "camera" in self.buttons:
            self._bind_camera(self.buttons["camera"], self.profile.buttons["camera"])
        if self.mute_locked:
            self.control.set_muted(True)
        if self.camera_locked:  # the switch is open at boot: the camera starts off, whatever the config says
            self._set_camera(False, count=False)
        self.indicator.muted = self.control.muted
        self._show(time.monotonic())

    def _button(self, spec: ButtonSpec) -> Any:
        from gpiozero import Button

        return Button(
            spec.pin,
            pull_up=spec.pull_up,
            bounce_time=spec.bounce_s or None,
            hold_time=self.settings.long_press_s,
            pin_factory=self.factory,
        )

    def _bind_mute(self, button: Any, spec: ButtonSpec) -> None:
        if spec.mode == "switch":
            button.when_pressed = self._hop.wrap(lambda: self._set_mute(True))
            button.when_released = self._hop.wrap(lambda: self._set_mute(False))
        else:
            button.when_pressed = self._hop.wrap(lambda: self._set_mute(not self.control.muted))

    def _bind_camera(self, button: Any, spec: ButtonSpec) -> None:
        if spec.mode == "switch":
            button.when_pressed = self._hop.wrap(lambda: self._set_camera(True))
            button.when_released = self._hop.wrap(lambda: self._set_camera(False))
            self._camera_on = bool(button.is_pressed)
        else:
            button.when_pressed = self._hop.wrap(lambda: self._set_camera(not self._camera_on))

    # -- button actions (event loop) --------------------------------------------------
    @property
    def mute_locked(self) -> bool:
        """True while a latching mute switch is closed: only the switch can unmute."""
        button = self.buttons.get("mute")
        return button is not None and self.profile.buttons["mute"].mode == "switch" and bool(button.is_pressed)

    def _set_mute(self, muted: bool) -> None:
        self.presses["mute"] += 1
        _LOGGER.info("Mute button: %s", "muted" if muted else "unmuted")
        self.control.set_muted(muted)

    @property
    def camera_locked(self) -> bool:
        """True while a latching camera switch is open: only the switch can turn the camera on."""
        button = self.buttons.get("camera")
        return button is not None and self.profile.buttons["camera"].mode == "switch" and not button.is_pressed

    def _action_long(self) -> None:
        self._action_held = True
        self.presses["stop"] += 1
        self._execute("stop", {})

    def _action_released(self) -> None:
        if self._action_held:
            self._action_held = False
            return
        self.presses["listen"] += 1
        self._execute("listen", {})

    def _set_camera(self, on: bool, *, count: bool = True) -> None:
        self._camera_on = on
        if count:
            self.presses["camera"] += 1
        if "camera" not in self.commands.names:
            if not self._camera_missing_logged:
                _LOGGER.info("Camera switch: no camera command (vision is not running)")
                self._camera_missing_logged = True
            return
        self._execute("camera", {"state": "ON" if on else "OFF"})

    def _execute(self, name: str, args: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self.commands.execute(name, args))
        task.add_done_callback(lambda t: _log_outcome(name, t))

    def mute_guard(self, name: str, args: Mapping[str, Any]) -> None:
        """Refuse to unmute while the mute switch is closed."""
        if self.mute_locked and _requested(args, current=self.control.muted) is False:
            raise CommandError("muted-by-switch", "the hardware mute switch is on; only the switch can unmute")

    def camera_guard(self, name: str, args: Mapping[str, Any]) -> None:
        """Refuse ``camera ON`` and ``snapshot`` while the camera switch is open."""
        if not self.camera_locked:
            return
        if name == "snapshot" or _requested(args, current=self._camera_on) is True:
            raise CommandError(
                "camera-off-by-switch", "the hardware camera switch is off; only the switch can turn it on"
            )

    # -- LEDs -------------------------------------------------------------------------
    async def run_leds(self) -> None:
        """Follow the pipeline stage, mute and errors on the bus (a supervised loop)."""
        sub: Any
        with self.bus.subscribe(StageChanged, MuteChanged, ErrorRaised, maxsize=64, name="leds") as sub:
            self.indicator.muted = self.control.muted
            self._show(time.monotonic())
            while True:
                wait = self.indicator.next_change(time.monotonic())
                try:
                    event = await asyncio.wait_for(sub.get(), timeout=wait)
                    self.indicator.apply(event, time.monotonic())
                except asyncio.TimeoutError:
                    pass  # an error display ran out
                self._show(time.monotonic())

    def _show(self, now: float) -> None:
        state = self.indicator.state(now)
        if state != self.shown:
            self.shown = state
            self.leds.show(state)

    # -- status and shutdown --------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "gpio": self.profile.gpio,
            "leds": self.shown,
            "mute_locked": self.mute_locked,
            "camera_switch": self._camera_on if "camera" in self.buttons else None,
            "presses": dict(self.presses),
        }

    def close(self) -> None:
        self.leds.close()
        for button in self.buttons.values():
            with contextlib.suppress(Exception):
                button.close()
        self.buttons.clear()
        if self.factory is not None:
            with contextlib.suppress(Exception):
                self.factory.close()


def _requested(args: Mapping[str, Any], *, current: bool) -> bool | None:
    """The ON/OFF a mute or camera command asks for (None when invalid: its handler says why)."""
    try:
        return a.on_off(args, "state", "value", current=current)
    except CommandError:
        return None


def _log_outcome(name: str, task: asyncio.Future[dict[str, Any]]) -> None:
    if task.cancelled():
        return
    err = task.exception()
    if isinstance(err, CommandError):
        _LOGGER.info("Button %s refused: %s [%s]", name, err.message, err.code)
    elif err is not None:
        _LOGGER.error("Button %s failed: %s", name, err)


def open_board(
    profile: BoardProfile, settings: HardwareSettings, *, control: ControlApi, commands: Commands, bus: Bus
) -> BoardControls | None:
    """The board's controls, or None when the profile has no GPIO (raises HardwareError when it cannot open)."""
    if not profile.has_gpio:
        return None
    factory = make_pin_factory(profile.gpio)
    try:
        return BoardControls(profile, settings, factory, control=control, commands=commands, bus=bus)
    except Exception as err:  # the LEDs' pins: in use, invalid, no permission
        with contextlib.suppress(Exception):
            factory.close()
        raise HardwareError("gpio-pin", f"LEDs: {err}") from err
