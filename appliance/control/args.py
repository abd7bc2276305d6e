"""Command arguments: one rule each, one error code each, for every handler on every transport.

Every command handler (core, memory, vision, GPIO, skills) reads its arguments
through these functions, so the same mistake gets the same answer whether it
came over MQTT, the control socket or the CLI:

- ``too-long``: a text or list longer than its limit;
- ``bad-arguments``: anything else (missing, wrong type, out of range, unknown choice).

Numbers given as strings are accepted only in ASCII digits: ``"²"`` or ``"٣"``
is a ``bad-arguments`` answer, never a crash in ``int()``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from appliance.core.errors import CommandError

MAX_TEXT = 2000
"""Characters accepted in a say/ask text (and any other free text)."""
MAX_ITEMS = 32
"""Entries accepted in a list argument unless the command says fewer."""

_INT = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ON = frozenset({"on", "true", "1", "yes"})
_OFF = frozenset({"off", "false", "0", "no"})

_MISSING = object()


def bad(message: str) -> CommandError:
    """The ``bad-arguments`` error (for rules specific to one command)."""
    return CommandError("bad-arguments", message)


def _shown(value: Any) -> str:
    """The value as echoed in an error: never more than 60 characters of a client's input."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def get(args: Mapping[str, Any], key: str, *aliases: str) -> Any:
    """The value under ``key`` (or the first alias present), or a private "missing" marker."""
    for name in (key, *aliases):
        if name in args:
            return args[name]
    return _MISSING


def text(args: Mapping[str, Any], key: str = "text", *, max_len: int = MAX_TEXT, required: bool = True) -> str:
    """A non-empty string, stripped; ``too-long`` past ``max_len`` characters."""
    value = args.get(key, _MISSING)
    if value is _MISSING and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{key} must be a non-empty string")
    if len(value) > max_len:
        raise CommandError("too-long", f"{key} is {len(value)} characters; at most {max_len} are accepted")
    return value.strip()


def optional_text(args: Mapping[str, Any], key: str, *, max_len: int = MAX_TEXT) -> str | None:
    """A string if given (may be empty), None if absent."""
    if key not in args or args[key] is None:
        return None
    value = args[key]
    if not isinstance(value, str):
        raise bad(f"{key} must be a string, got {_shown(value)}")
    if len(value) > max_len:
        raise CommandError("too-long", f"{key} is {len(value)} characters; at most {max_len} are accepted")
    return value.strip()


def integer(args: Mapping[str, Any], key: str, low: int, high: int, *aliases: str, default: int | None = None) -> int:
    """An integer in ``low..high``; a whole float or an ASCII-digit string counts."""
    value = get(args, key, *aliases)
    if value is _MISSING and default is not None:
        return default
    number = _as_int(value)
    if number is None or not low <= number <= high:
        raise bad(f"{key} must be an integer {low}..{high}, got {_shown(None if value is _MISSING else value)}")
    return number


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def number(
    args: Mapping[str, Any], key: str, low: float, high: float, *aliases: str, default: float | None = None
) -> float:
    """A finite number in ``low..high``; an ASCII decimal string counts."""
    value = get(args, key, *aliases)
    if value is _MISSING and default is not None:
        return default
    result = _as_float(value)
    if result is None or not low <= result <= high:
        raise bad(f"{key} must be a number {low:g}..{high:g}, got {_shown(None if value is _MISSING else value)}")
    return result


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        result = float(value.strip())
    else:
        return None
    return result if math.isfinite(result) else None


def choice(
    args: Mapping[str, Any], key: str, choices: Collection[str], *aliases: str, default: str | None = None
) -> str:
    """One of ``choices`` (exact, after stripping)."""
    value = get(args, key, *aliases)
    if value is _MISSING and default is not None:
        return default
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise bad(f"{key} must be one of {', '.join(sorted(choices))}, got {_shown(None if value is _MISSING else value)}")


def on_off(args: Mapping[str, Any], key: str, *aliases: str, current: bool | None = None) -> bool:
    """ON/OFF (true/false, 1/0, yes/no); ``toggle`` flips ``current`` when one is given."""
    value = get(args, key, *aliases)
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _ON:
        return True
    if word in _OFF:
        return False
    if word == "toggle" and current is not None:
        return not current
    allowed = "ON or OFF (or TOGGLE)" if current is not None else "ON or OFF"
    raise bad(f"{key} must be {allowed}, got {_shown(None if value is _MISSING else value)}")


def flag(args: Mapping[str, Any], key: str, *, default: bool) -> bool:
    """An optional ON/OFF argument."""
    return default if key not in args else on_off(args, key)


def names(
    args: Mapping[str, Any],
    key: str,
    *aliases: str,
    choices: Collection[str] | None = None,
    max_items: int = MAX_ITEMS,
    max_len: int = 200,
) -> tuple[str, ...]:
    """A name or a list of names: deduplicated in order, at most ``max_items``, each from ``choices``."""
    value = get(args, key, *aliases)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(n, str) and n.strip() for n in items):
        raise bad(f"{key} must be a name or a list of names")
    if len(items) > max(max_items * 4, 64):  # far past any sensible list: refuse before the work
        raise CommandError("too-long", f"{key} has {len(items)} entries; at most {max_items} are accepted")
    unique = tuple(dict.fromkeys(n.strip() for n in items))
    if any(len(n) > max_len for n in unique):
        raise CommandError("too-long", f"a name in {key} is longer than {max_len} characters")
    if len(unique) > max_items:
        raise CommandError("too-long", f"{key} has {len(unique)} different entries; at most {max_items} are accepted")
    if choices is not None:
        unknown = [n for n in unique if n not in choices]
        if unknown:
            raise bad(f"unknown {key} entry {_shown(unknown[0])}; choose from {', '.join(choices)}")
    return unique
