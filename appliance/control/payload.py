"""One decoder for every inbound payload (MQTT commands, control-socket lines, imports).

A payload from the network is hostile until it has passed here: bounded in
bytes, nesting, list and object sizes; valid UTF-8 with no lone surrogates
(a ``"\\ud800"`` escape decodes to a str that can never be encoded again, so
every later log line, reply or state publication would fail); no NaN or
Infinity. Each rule answers with a code, never a traceback:

- ``too-long``: over a size limit (bytes, list items, object keys);
- ``bad-payload``: not UTF-8, a lone surrogate, nested too deep, a bad ``id``;
- ``bad-json``: a payload that starts like JSON but is not.

:func:`encode` is the other direction: it cannot raise for any value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from appliance.core.errors import CommandError

MAX_BYTES = 64 * 1024
"""Largest payload accepted."""
MAX_DEPTH = 8
"""Nesting of objects and lists (a command needs 3 at most)."""
MAX_LIST = 32
"""Items in any one JSON list (``args.MAX_ITEMS``; a command may cap its own lists lower)."""
MAX_KEYS = 64
"""Keys in any one JSON object."""
MAX_ID = 128
"""Characters of a request ``id`` (echoed in the reply)."""
MAX_CORRELATION = 256
"""Bytes of MQTT v5 CorrelationData (echoed in the reply)."""
SHOWN = 60
"""Characters of a client's input echoed in an error message."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def shown(value: Any) -> str:
    """A client's value as echoed in an error: at most ``SHOWN`` characters, always encodable."""
    text = _SURROGATE.sub("\ufffd", repr(value))
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def check_text(text: str, what: str = "payload") -> str:
    """``text`` unchanged, or ``bad-payload`` if it holds a lone surrogate."""
    if _SURROGATE.search(text):
        raise CommandError("bad-payload", f"{what} holds a lone surrogate (not encodable text)")
    return text


def decode_text(payload: bytes | str, *, max_bytes: int = MAX_BYTES) -> str:
    """The payload as text: within ``max_bytes``, strict UTF-8, no lone surrogates."""
    size = len(payload.encode("utf-8", "surrogatepass")) if isinstance(payload, str) else len(payload)
    if size > max_bytes:
        raise CommandError("too-long", f"payload is {size} bytes; at most {max_bytes} are accepted")
    if isinstance(payload, str):
        return check_text(payload)
    try:
        return payload.decode("utf-8")  # strict UTF-8 never yields a surrogate
    except UnicodeDecodeError:
        raise CommandError("bad-payload", "payload is not UTF-8 text") from None


def decode_json(text: str) -> Any:
    """Parse JSON text under the depth, size and surrogate rules."""
    value = parse_json(text)
    check_value(value)
    return value


def parse_json(text: str) -> Any:
    """Parse JSON text under the depth rule only (``check_value`` is the rest)."""
    depth = nesting(text)
    if depth > MAX_DEPTH:
        raise CommandError("bad-payload", f"payload nests {depth} deep; at most {MAX_DEPTH} levels are accepted")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except CommandError:
        raise
    except (ValueError, RecursionError) as err:
        raise CommandError("bad-json", f"payload is not valid JSON: {shown(str(err))}") from None
    return value


def nesting(text: str) -> int:
    """How deep the brackets of a JSON text nest (outside strings); cheap, no recursion."""
    deepest = level = 0
    for bracket in _BRACKETS.findall(_STRING.sub('""', text)):
        level += 1 if bracket in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _no_constant(name: str) -> Any:
    raise CommandError("bad-payload", f"{name} is not a number JSON allows")


def check_value(value: Any) -> None:
    """Lone surrogates (in keys and values) and list/object sizes, all the way down (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item, "a string in the payload")
        elif isinstance(item, list):
            if len(item) > MAX_LIST:
                raise CommandError("too-long", f"a list of {len(item)} items; at most {MAX_LIST} are accepted")
            stack.extend(item)
        elif isinstance(item, dict):
            if len(item) > MAX_KEYS:
                raise CommandError("too-long", f"an object of {len(item)} keys; at most {MAX_KEYS} are accepted")
            for key in item:
                check_text(key, "a key in the payload")
            stack.extend(item.values())


def request_id(value: Any) -> str | int | float | None:
    """A request ``id`` to echo: a string or a finite number of at most ``MAX_ID`` characters."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CommandError("bad-payload", f"id must be a string or a number, got {shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CommandError("bad-payload", "id must be a finite number")
    if len(str(value)) > MAX_ID:
        raise CommandError("bad-payload", f"id is longer than {MAX_ID} characters")
    if isinstance(value, str):
        check_text(value, "id")
    return value


def correlation_data(value: bytes | None) -> bytes | None:
    """MQTT v5 CorrelationData to echo: at most ``MAX_CORRELATION`` bytes."""
    if value is not None and len(value) > MAX_CORRELATION:
        raise CommandError("bad-payload", f"correlation data is {len(value)} bytes; at most {MAX_CORRELATION}")
    return value


def scrub(text: str) -> str:
    """``text`` with any lone surrogate replaced by U+FFFD (for text that must go out anyway)."""
    return _SURROGATE.sub("\ufffd", text)


def encode(data: Any) -> bytes:
    """Compact JSON as UTF-8; never raises (lone surrogates are escaped, odd values shown with str)."""
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate got in: ASCII JSON escapes it as \\udXXX
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True, default=str).encode("ascii")
    except (TypeError, ValueError, RecursionError) as err:  # a circular or unorderable value: a bug, not a crash
        return json.dumps(
            {"error": {"code": "internal-error", "message": f"unencodable: {type(err).__name__}"}}
        ).encode()
