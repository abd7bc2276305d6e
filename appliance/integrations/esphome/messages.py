"""The ESPHome native API's messages: the classes of ``aioesphomeapi``'s protobuf module, by wire number.

Each message in ``api.proto`` carries its number and the side that sends it as options
(``id``, ``source``); the table below is built from those options, so it follows the
protobuf module pinned in pyproject without a list kept here.  A client may send only
what a client sends: a server-only message from it is a protocol error.
"""

from __future__ import annotations

from typing import Any

from aioesphomeapi import api_options_pb2, api_pb2
from google.protobuf.message import DecodeError, Message

from appliance.core.errors import ApplianceError

pb: Any = api_pb2
_options: Any = api_options_pb2
"""``aioesphomeapi.api_pb2``, typed loosely: its classes are made at import, so a type checker cannot see them."""
SOURCE_BOTH, SOURCE_SERVER, SOURCE_CLIENT = 0, 1, 2
"""``api_options.proto``'s ``APISourceType``: who sends a message."""


class ProtocolError(ApplianceError):
    """A client broke the ESPHome API (framing, encryption or a message); its connection is closed."""


def _table() -> tuple[dict[int, type[Message]], dict[type[Message], int], set[int]]:
    by_number: dict[int, type[Message]] = {}
    from_client: set[int] = set()
    for name, descriptor in pb.DESCRIPTOR.message_types_by_name.items():
        options = descriptor.GetOptions()
        if not options.HasExtension(_options.id):
            continue  # a sub-message (a wake word, a format), never framed on its own
        number = options.Extensions[_options.id]
        by_number[number] = getattr(pb, name)
        if options.Extensions[_options.source] in (SOURCE_BOTH, SOURCE_CLIENT):
            from_client.add(number)
    return by_number, {cls: number for number, cls in by_number.items()}, from_client


CLASS_OF, NUMBER_OF, FROM_CLIENT = _table()


def decode(number: int, payload: bytes) -> Message:
    """The message a client sent as ``number`` with ``payload``; ProtocolError when it cannot be one."""
    cls = CLASS_OF.get(number)
    if cls is None:
        raise ProtocolError("esphome-unknown-message", f"message type {number} does not exist")
    if number not in FROM_CLIENT:
        raise ProtocolError("esphome-wrong-direction", f"{cls.__name__} is sent by a device, not to one")
    message = cls()
    try:
        message.ParseFromString(payload)
    except (DecodeError, RuntimeWarning, ValueError) as err:
        raise ProtocolError("esphome-malformed", f"{cls.__name__} does not parse ({len(payload)} bytes)") from err
    return message


def encode(message: Message) -> tuple[int, bytes]:
    """(wire number, serialized bytes) of a message this side sends."""
    return NUMBER_OF[type(message)], message.SerializeToString()


def build(name: str, **fields: Any) -> Message:
    """A message of ``api_pb2`` by class name (``build("PingResponse")``)."""
    cls: type[Message] = getattr(pb, name)
    return cls(**fields)
