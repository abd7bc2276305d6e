"""The chat-completions stream a LAN server sends, decoded: Server-Sent Events lines in, reply text out.

Pure (no I/O), so every way a server can answer is tested with plain strings.
Every malformed answer is one coded :class:`LlmServerError`.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.core.errors import LlmError


class LlmServerError(LlmError):
    """The LAN server failed a request; ``code`` says how (the router's fallback reason)."""


class ChatStreamDecoder:
    """Decodes a chat-completions SSE stream: :meth:`feed` each line, get the reply text it carried."""

    def __init__(self) -> None:
        self.done = False
        """``data: [DONE]`` arrived."""
        self.finish_reason: str | None = None
        self.completion_tokens: int | None = None
        """From a ``usage`` object, if the server sent one."""
        self.prompt_tokens: int | None = None
        self._data: list[str] = []

    @property
    def finished(self) -> bool:
        """The server said the reply is complete (not merely that the connection ended)."""
        return self.done or self.finish_reason is not None

    def feed(self, line: str) -> list[str]:
        """One line of the stream (with or without its newline); the text pieces it completed."""
        line = line.rstrip("\r\n")
        if line.startswith(":"):  # an SSE comment (keep-alive)
            return []
        if line:
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value[1:] if value.startswith(" ") else value)
            return []  # event:, id:, retry: carry nothing for us
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []  # a blank line ends the event
        return self.event(data)

    def end(self) -> list[str]:
        """The stream ended: an event that was not closed by a blank line still counts."""
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []
        return self.event(data)

    def event(self, data: str) -> list[str]:
        """One event's data: ``[DONE]`` or a chat.completion.chunk object."""
        if data.strip() == "[DONE]":
            self.done = True
            return []
        return self.chunk(json_object(data))

    def chunk(self, obj: dict[str, Any]) -> list[str]:
        """Text of one chunk (``choices[0].delta.content``), or of a whole response (``message.content``)."""
        if "error" in obj:
            raise LlmServerError("server-error", f"the server reported an error: {_error_text(obj['error'])}")
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.completion_tokens = _int_or_none(usage.get("completion_tokens"))
            self.prompt_tokens = _int_or_none(usage.get("prompt_tokens"))
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            return []  # a usage-only chunk, or a heartbeat object
        choice = choices[0]
        if not isinstance(choice, dict):
            raise LlmServerError("server-bad-response", "a choice in the stream is not an object")
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        part = choice.get("delta") or choice.get("message") or {}
        text = part.get("content") if isinstance(part, dict) else None
        return [text] if isinstance(text, str) and text else []


def json_object(data: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        raise LlmServerError("server-bad-response", "the server sent data that is not JSON") from None
    if not isinstance(obj, dict):
        raise LlmServerError("server-bad-response", "the server sent JSON that is not an object")
    return obj


def _error_text(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:120]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
