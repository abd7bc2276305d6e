"""The command layer: every control action, implemented once, for the socket, MQTT, GPIO and voice.

Each command validates its arguments (through :mod:`appliance.control.args`) and
returns a JSON-ready result or raises :class:`CommandError` with a code.
Commands drive the appliance only through :class:`~appliance.control.api.ControlApi`;
nothing here runs a shell or touches files.  Features add commands with
:meth:`Commands.register` and checks with :meth:`Commands.add_guard` (the mute
switch's lock, the camera switch), never by replacing a command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from appliance.control import args as a
from appliance.control.api import ControlApi
from appliance.core.errors import ApplianceError, CommandError

_LOGGER = logging.getLogger(__name__)

MAX_TEXT = a.MAX_TEXT

Handler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
Guard = Callable[[str, Mapping[str, Any]], None]
"""Called with the command's name and arguments before it runs; raises CommandError to refuse."""


class Commands:
    """Dispatch by name; ``names`` lists what exists (for help and MQTT subscriptions)."""

    def __init__(self, control: ControlApi) -> None:
        self.control = control
        self._guards: dict[str, list[Guard]] = {}
        self._handlers: dict[str, Handler] = {
            "status": self.status,
            "say": self.say,
            "ask": self.ask,
            "listen": self.listen,
            "stop": self.stop,
            "mute": self.mute,
            "volume": self.volume,
            "wake_word": self.wake_word,
            "sensitivity": self.sensitivity,
            "reload": self.reload,
            "restart": self.restart,
        }

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def register(self, name: str, handler: Handler) -> None:
        """Add a command (memory, camera, skills, … register theirs at start-up); names are unique."""
        if name in self._handlers:
            raise ValueError(f"command {name!r} is already registered")
        self._handlers[name] = handler

    def add_guard(self, name: str, guard: Guard) -> None:
        """Run ``guard`` before every ``name`` command (several guards run in the order added)."""
        self._guards.setdefault(name, []).append(guard)

    async def execute(self, name: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one command; every failure comes back as a CommandError with a code."""
        handler = self._handlers.get(name)
        if handler is None:
            raise CommandError("unknown-command", f"no command {name[:60]!r}; known: {', '.join(self.names)}")
        if args is not None and not isinstance(args, Mapping):
            raise CommandError("bad-arguments", f"arguments of {name!r} must be an object, got {type(args).__name__}")
        args = args or {}
        try:
            for guard in self._guards.get(name, ()):
                guard(name, args)
            return await handler(args)
        except CommandError:
            raise
        except ApplianceError as err:
            raise CommandError(err.code, err.message) from err

    # -- commands -------------------------------------------------------------
    async def status(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return self.control.status()

    async def say(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = a.text(args)
        if "volume" in args:
            await self.execute("volume", {"level": args["volume"]})
        result = await self.control.say(text)
        return {"spoken": text, "outcome": result.outcome}

    async def ask(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = a.text(args)
        speak = a.flag(args, "speak", default=True)
        started = time.monotonic()
        result = await self.control.ask(text, speak=speak)
        return {
            "question": text,
            "reply": result.reply,
            "outcome": result.outcome,
            "intent": result.intent,
            "seconds": round(time.monotonic() - started, 3),
        }

    async def listen(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if self.control.muted:
            raise CommandError("muted", "the microphone is muted; unmute first")
        return {"turn_id": await self.control.listen()}

    async def stop(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"interrupted": await self.control.stop()}

    async def mute(self, args: Mapping[str, Any]) -> dict[str, Any]:
        muted = a.on_off(args, "state", "value", current=self.control.muted)
        self.control.set_muted(muted)
        return {"muted": muted}

    async def volume(self, args: Mapping[str, Any]) -> dict[str, Any]:
        level = a.integer(args, "level", 0, 100, "value")
        self.control.set_volume(level)
        return {"volume": level}

    async def wake_word(self, args: Mapping[str, Any]) -> dict[str, Any]:
        available = self.control.available_wake_words
        names = a.names(args, "models", "value", choices=available, max_items=len(available))
        await self.control.set_wake_words(names)
        return {"models": list(names)}

    async def sensitivity(self, args: Mapping[str, Any]) -> dict[str, Any]:
        value = a.number(args, "value", 0.01, 0.99)
        self.control.set_sensitivity(value)
        return {"sensitivity": value, "threshold": round(1.0 - value, 3)}

    async def reload(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"reloaded": await self.control.reload()}

    async def restart(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.control.request_restart()
        return {"restarting": True}
