"""Control characters out of text that is spoken, published or logged: one rule for every reply.

A reply is model output, and a LAN server's model is not ours: ESC, BEL or NUL in it
would reach the voice (Piper fails the turn on a NUL), Home Assistant's sensors (the
retained ``state/reply``) and terminals reading the log.  Text in, text out: the
C0 and C1 controls and DEL (Unicode category Cc) are removed, except that a tab, a
line or paragraph break becomes a space, so the words either side stay apart and
sentence ends stay sentence ends.  A terminal escape sequence (ESC ``[`` parameters and a
final letter, as in ``ESC[31m``) goes as a whole, so no ``[31m`` is left to be read out.
"""

from __future__ import annotations

import re

_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
"""ECMA-48 control sequences as terminals see them: ESC ``[``, parameters, intermediates, a final byte.
(A lone C1 CSI is far likelier stray than meant: it goes as one control character.)"""

_SPACE_LIKE = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85"
"""Controls that separate words or lines (Python's ``str.isspace``): each becomes one space."""

_CONTROLS = (*range(0x00, 0x20), *range(0x7F, 0xA0))
"""C0, DEL and C1: Unicode's category Cc."""
_TABLE: dict[int, str | None] = {code: (" " if chr(code) in _SPACE_LIKE else None) for code in _CONTROLS}
_TABLE.update({0x2028: " ", 0x2029: " "})  # line and paragraph separators: breaks, like a newline


def strip_control_chars(text: str) -> str:
    """``text`` without control characters (C0, DEL, C1); tabs and line breaks become spaces."""
    if "\x1b" in text:
        text = _ESCAPE_SEQUENCE.sub("", text)
    return text.translate(_TABLE)
