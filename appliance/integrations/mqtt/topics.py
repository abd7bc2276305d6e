"""The topic layout and the wire format of commands: pure functions, no network.

```
<base>/<device_id>/availability          online | offline (retained, also the last will)
<base>/<device_id>/state/<name>          retained state: mute, volume, stage, wake_word, …
<base>/<device_id>/event/<name>          JSON events: wake, transcript, reply, intent, error
<base>/<device_id>/cmd/<name>            commands in: JSON object or a plain value
<base>/<device_id>/cmd/<name>/reply      answers for MQTT 3.1.1 clients that ask for one
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from appliance.control.payload import (
    MAX_BYTES,
    check_value,
    decode_text,
    parse_json,
    request_id,
    scrub,
    shown,
)
from appliance.control.payload import encode as encode
from appliance.core.errors import CommandError

MAX_COMMAND_BYTES = MAX_BYTES
"""Largest command payload accepted."""

META_KEYS = frozenset({"reply_to", "id", "ts"})
"""Payload keys that describe the request rather than being command arguments."""

PLAIN_ARGUMENT = {
    "say": "text",
    "ask": "text",
    "mute": "state",
    "volume": "level",
    "wake_word": "models",
    "sensitivity": "value",
    "broadcast": "text",
}
"""Which argument a plain (non-object) payload fills, per command."""

NO_ARGUMENTS = frozenset({"listen", "stop", "restart", "reload", "status"})
"""Commands whose plain payload is ignored (Home Assistant's button sends PRESS)."""


@dataclass(frozen=True)
class Topics:
    """Every topic the appliance uses, derived from the base topic and device id."""

    root: str
    """``<base>/<device_id>``"""
    device_id: str
    discovery_prefix: str = "homeassistant"

    @classmethod
    def for_device(cls, base_topic: str, device_id: str, discovery_prefix: str = "homeassistant") -> Topics:
        return cls(f"{base_topic.strip('/')}/{device_id}", device_id, discovery_prefix.strip("/"))

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    def state(self, name: str) -> str:
        return f"{self.root}/state/{name}"

    def event(self, name: str) -> str:
        return f"{self.root}/event/{name}"

    def command(self, name: str) -> str:
        return f"{self.root}/cmd/{name}"

    def reply(self, name: str) -> str:
        return f"{self.root}/cmd/{name}/reply"

    @property
    def command_filter(self) -> str:
        return f"{self.root}/cmd/+"

    @property
    def discovery(self) -> str:
        return f"{self.discovery_prefix}/device/{self.device_id}/config"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def command_name(self, topic: str) -> str | None:
        """``appliance/kitchen/cmd/say`` -> ``say``; None for any other topic."""
        prefix = f"{self.root}/cmd/"
        if not topic.startswith(prefix):
            return None
        name = topic[len(prefix) :]
        return name if name and "/" not in name else None


@dataclass
class Request:
    """A decoded command message."""

    command: str
    args: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    """Where the answer goes (v5 response topic, or the payload's ``reply_to``)."""
    correlation: Any = None
    """Echoed in the answer: v5 correlation data (bytes) or the payload's ``id``."""
    sent_ts: float | None = None
    """Unix seconds the sender put in ``ts``, if any."""


class PayloadRefused(CommandError):
    """A refused payload that still names where its sender wants the answer."""

    def __init__(self, err: CommandError, reply_to: str | None) -> None:
        super().__init__(err.code, err.message)
        self.reply_to = reply_to


def decode_command(topics: Topics, name: str, payload: bytes) -> Request:
    """Turn a command payload into arguments; raises CommandError with a code for bad input (see ``payload``).

    A JSON object refused after parsing raises :class:`PayloadRefused`, which
    carries its ``reply_to`` (when that alone is sound), so the refusal is answered.
    """
    text = decode_text(payload, max_bytes=MAX_COMMAND_BYTES).strip()
    value: Any = text
    if text[:1] in ("{", "[", '"') or _is_json_scalar(text):
        try:
            value = parse_json(text)
        except CommandError as err:
            if err.code != "bad-json" or text[:1] in ("{", "["):
                raise
    try:
        check_value(value)
        if isinstance(value, dict):
            return _from_object(topics, name, value)
    except CommandError as err:
        raise PayloadRefused(err, _sound_reply_to(topics, name, value)) from None
    return Request(name, _plain_args(name, value))


def _sound_reply_to(topics: Topics, name: str, value: Any) -> str | None:
    reply_to = value.get("reply_to") if isinstance(value, dict) else None
    if reply_to is True:
        return topics.reply(name)
    return reply_to if isinstance(reply_to, str) and reply_to == scrub(reply_to) else None


def _is_json_scalar(text: str) -> bool:
    return text in ("true", "false", "null") or text.lstrip("-").replace(".", "", 1).isdigit()


def _plain_args(name: str, value: Any) -> dict[str, Any]:
    if name in NO_ARGUMENTS or value in ("", None):
        return {}
    if isinstance(value, list) and name != "wake_word":
        raise CommandError("bad-payload", f"{name} takes a JSON object or a single value, not a list")
    return {PLAIN_ARGUMENT.get(name, "value"): value}


def _from_object(topics: Topics, name: str, data: dict[str, Any]) -> Request:
    args = {k: v for k, v in data.items() if k not in META_KEYS}
    sent = data.get("ts")
    if sent is not None and (isinstance(sent, bool) or not isinstance(sent, (int, float)) or not math.isfinite(sent)):
        raise CommandError("bad-payload", f"ts must be Unix seconds, got {shown(sent)}")
    reply_to = data.get("reply_to")
    if reply_to is True:
        reply_to = topics.reply(name)
    elif reply_to in (None, False):
        reply_to = None
    elif not isinstance(reply_to, str):
        raise CommandError("bad-payload", "reply_to must be a topic or true")
    return Request(name, args, reply_to=reply_to, correlation=request_id(data.get("id")), sent_ts=sent)


def check_reply_topic(topic: str, *, root: str, prefixes: tuple[str, ...] = ()) -> str:
    """A reply goes only to ``<root>/…/reply`` (the device's own tree) or under a configured prefix.

    Anything else is refused: the answer carries text a client chose (its
    ``id``), so an open reply topic would let any publisher make the appliance
    speak on topics that act on things (a light's ``set``, discovery).
    """
    plain = topic == scrub(topic) and not any(ch in topic for ch in "#+\0")
    if not topic or len(topic) > 512 or not plain or topic.startswith("$"):
        raise CommandError("bad-reply-topic", f"cannot reply on {shown(topic)}: it must be a plain topic")
    if topic.startswith(root.rstrip("/") + "/") and topic.endswith("/reply"):
        return topic
    for prefix in prefixes:
        base = prefix.rstrip("/")
        if base and topic.startswith(base + "/"):
            return topic
    allowed = ", ".join([f"{root}/.../reply", *(f"{p.rstrip('/')}/..." for p in prefixes)])
    raise CommandError("bad-reply-topic", f"cannot reply on {shown(topic)}: replies go only to {allowed}")


def command_deadline(
    *, received: float, wall_now: float, max_age_s: float, sent_ts: float | None = None, expiry_s: float | None = None
) -> float:
    """Monotonic time after which a command must not run any more.

    ``received`` is the monotonic receipt time; ``sent_ts`` the sender's Unix
    time (its clock may be off, so it only ever shortens the window);
    ``expiry_s`` the v5 message expiry left when the broker delivered it.
    A result at or before ``received`` means: already expired.
    """
    deadline = received + max_age_s
    if expiry_s is not None:
        deadline = min(deadline, received + expiry_s)
    if sent_ts is not None:
        deadline = min(deadline, received + (sent_ts + max_age_s - wall_now))
    return deadline


def packet_size(topic: str, payload_len: int, *, qos: int = 1, properties_len: int = 0, v5: bool = True) -> int:
    """Bytes of a PUBLISH packet on the wire (what a broker's max_packet_size limits)."""
    body = 2 + len(topic.encode("utf-8")) + (2 if qos else 0) + payload_len
    if v5:
        body += _varint_len(properties_len) + properties_len
    return 1 + _varint_len(body) + body


def _varint_len(n: int) -> int:
    length = 1
    while n >= 128:
        n //= 128
        length += 1
    return length
