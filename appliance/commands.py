"""The command layer: every control action, implemented once, for the socket, MQTT and voice.

Each command validates its arguments and returns a JSON-ready result or
raises :class:`CommandError` with a code.  Nothing here runs a shell or
touches files: commands change in-memory state (mute, volume, wake words)
or start turns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ApplianceError, CommandError
from .events import VolumeChanged
from .wake import BUILTIN

if TYPE_CHECKING:
    from .app import Appliance

_LOGGER = logging.getLogger(__name__)

MAX_TEXT = 2000
"""Characters accepted in a say/ask text."""

Handler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


class Commands:
    """Dispatch by name; ``names`` lists what exists (for help and MQTT subscriptions)."""

    def __init__(self, app: Appliance) -> None:
        self.app = app
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
        """Add a command (memory, camera, … register theirs at start-up)."""
        self._handlers[name] = handler

    async def execute(self, name: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one command; every failure comes back as a CommandError with a code."""
        handler = self._handlers.get(name)
        if handler is None:
            raise CommandError("unknown-command", f"no command {name!r}; known: {', '.join(self.names)}")
        if args is not None and not isinstance(args, Mapping):
            raise CommandError("bad-arguments", f"arguments of {name!r} must be an object, got {type(args).__name__}")
        try:
            return await handler(args or {})
        except CommandError:
            raise
        except ApplianceError as err:
            raise CommandError(err.code, err.message) from err

    # -- commands -------------------------------------------------------------
    async def status(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return self.app.status()

    async def say(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = _text(args)
        if "volume" in args:
            await self.volume({"level": args["volume"]})
        record = await self.app.pipeline.say(text)
        return {"spoken": text, "outcome": record.outcome}

    async def ask(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = _text(args)
        speak = _bool(args, "speak", default=True)
        started = time.monotonic()
        record = await self.app.pipeline.ask(text, speak=speak)
        return {
            "question": text,
            "reply": record.reply,
            "outcome": record.outcome,
            "intent": record.extra.get("intent"),
            "seconds": round(time.monotonic() - started, 3),
        }

    async def listen(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if self.app.frontend.muted:
            raise CommandError("muted", "the microphone is muted; unmute first")
        await self.app.pipeline.interrupt()
        return {"turn_id": self.app.pipeline.listen()}

    async def stop(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"interrupted": await self.app.pipeline.interrupt()}

    async def mute(self, args: Mapping[str, Any]) -> dict[str, Any]:
        value = args.get("state", args.get("value"))
        current = self.app.frontend.muted
        muted = not current if isinstance(value, str) and value.strip().lower() == "toggle" else _onoff(value, "state")
        self.app.set_muted(muted)
        return {"muted": muted}

    async def volume(self, args: Mapping[str, Any]) -> dict[str, Any]:
        level = _int(args, "level", 0, 100)
        self.app.sink.volume = level
        self.app.bus.publish(VolumeChanged(volume=level))
        return {"volume": level}

    async def wake_word(self, args: Mapping[str, Any]) -> dict[str, Any]:
        raw = args.get("models", args.get("value"))
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise CommandError("bad-arguments", "models must be a wake-word name or a list of names")
        unknown = [n for n in names if n not in BUILTIN]
        if unknown:
            raise CommandError("bad-arguments", f"unknown wake word {unknown[0]!r}; choose from {', '.join(BUILTIN)}")
        await self.app.set_wake_words(tuple(names))
        return {"models": names}

    async def sensitivity(self, args: Mapping[str, Any]) -> dict[str, Any]:
        value = _float(args, "value", 0.01, 0.99)
        self.app.set_sensitivity(value)
        return {"sensitivity": value, "threshold": round(1.0 - value, 3)}

    async def reload(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"reloaded": await self.app.reload()}

    async def restart(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.app.request_restart()
        return {"restarting": True}


# -- argument validation -------------------------------------------------------


def _text(args: Mapping[str, Any]) -> str:
    text = args.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CommandError("bad-arguments", "text must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise CommandError("too-long", f"text is {len(text)} characters; at most {MAX_TEXT} are accepted")
    return text.strip()


def _int(args: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = args.get(key, args.get("value"))
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CommandError("bad-arguments", f"{key} must be an integer {low}..{high}, got {value!r}")
    return value


def _float(args: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = args.get(key)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CommandError("bad-arguments", f"{key} must be a number {low}..{high}, got {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise CommandError("bad-arguments", f"{key} must be a number {low}..{high}, got {value!r}")
    return number


def _bool(args: Mapping[str, Any], key: str, *, default: bool) -> bool:
    if key not in args:
        return default
    return _onoff(args[key], key)


def _onoff(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("off", "false", "0", "no"):
        return False
    raise CommandError("bad-arguments", f"{key} must be ON or OFF, got {value!r}")
