"""Scrub what people said (and what the appliance answered) from log text, for a bug-report bundle.

Usage: scrub_log.py < journal.txt > scrubbed.txt
Exit codes: 0 ok, 2 bad usage.

The daemon logs events as Python dicts or JSON (``event transcript {'text':
'…'}``, ``event turn {… 'transcript': '…', 'reply': '…'}``); the values of
the keys that carry speech are replaced with ``<scrubbed N chars>``, in either
quoting, escapes included; so is the quoted text in the few log lines that
quote what was said (``Turn 3: 'what is' does not end a request``, an
unsure home command, a reply that began like an earlier one, the demo's
``heard … replied …``, an announcement with no speaker) and in an older
daemon's ``tts-failed`` message (``could not synthesize '…'``). Lengths,
timings, codes and counts stay: they are what a bug report needs. A last line
says how many values were scrubbed.
"""

from __future__ import annotations

import re
import sys

SPEECH_KEYS = (
    "text",
    "transcript",
    "reply",
    "question",
    "answer",
    "spoken",
    "user_text",
    "assistant",
    "partial",
    "sentence",
    "prompt",
    "content",
    "fact",
    "summary",
    "speech",
    "label",
    "reply_text",
    "utterance",
)
"""Keys whose values are speech, replies or remembered facts (``label``: a timer's or reminder's name, as said)."""

_VALUE = re.compile(
    r"""(?P<key>(?P<kq>['"])(?:"""
    + "|".join(SPEECH_KEYS)
    + r""")(?P=kq)\s*:\s*)(?P<q>['"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)""",
    re.IGNORECASE,
)
_QUOTED = r"""(?P<q>['"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)"""
_PHRASES = [
    re.compile(before + _QUOTED)
    for before in (
        r"(?P<key>unsure about )",
        r"(?P<key>speech resumed after )",
        r"(?P<key>Turn \d+: )(?=['\"].*['\"] does not end a request)",
        r"(?P<key>Demo: heard )",
        r"(?<=['\"])(?P<key>, replied )",
        r"(?P<key>began like an earlier one \()",
        r"(?P<key>could not synthesize )",
    )
]
"""Log lines that quote what was said or answered (Python's ``%r``), the quoted part after ``key``."""
_UNQUOTED = re.compile(r"(?P<key>No (?:ring|announce) port: )(?P<value>[^\n]+)")
"""Warnings that show an announcement as it is (``%s``), to the end of the line."""


def scrub_line(line: str) -> tuple[str, int]:
    """The line with every speech value replaced, and how many were."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        q = match.groupdict().get("q") or ""
        return f"{match.group('key')}{q}<scrubbed {len(match.group('value'))} chars>{q}"

    for pattern in (_VALUE, *_PHRASES, _UNQUOTED):
        line = pattern.sub(replace, line)
    return line, count


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    total = 0
    for line in sys.stdin:
        scrubbed, count = scrub_line(line)
        total += count
        sys.stdout.write(scrubbed)
    print(f"(scrub_log: {total} transcript/reply values replaced by their length)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
