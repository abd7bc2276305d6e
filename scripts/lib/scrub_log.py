"""Scrub what people said (and what the appliance answered) from log text, for a bug-report bundle.

Usage: scrub_log.py < journal.txt > scrubbed.txt
Exit codes: 0 ok, 2 bad usage.

The daemon logs events as Python dicts or JSON (``event transcript {'text':
'…'}``, ``event turn {… 'transcript': '…', 'reply': '…'}``); the values of
the keys that carry speech are replaced with ``<scrubbed N chars>``, in either
quoting, escapes included. Lengths, timings, codes and counts stay: they are
what a bug report needs. A last line says how many values were scrubbed.
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
)
"""Keys whose values are speech, replies or remembered facts."""

_VALUE = re.compile(
    r"""(?P<key>(?P<kq>['"])(?:"""
    + "|".join(SPEECH_KEYS)
    + r""")(?P=kq)\s*:\s*)(?P<q>['"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)""",
    re.IGNORECASE,
)
_UNSURE = re.compile(r"(unsure about )'(?:\\.|[^'])*'|(unsure about )\"(?:\\.|[^\"])*\"")


def scrub_line(line: str) -> tuple[str, int]:
    """The line with every speech value replaced, and how many were."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        q = match.group("q")
        return f"{match.group('key')}{q}<scrubbed {len(match.group('value'))} chars>{q}"

    line = _VALUE.sub(replace, line)
    line, extra = _UNSURE.subn(lambda m: (m.group(1) or m.group(2)) + "<scrubbed>", line)
    return line, count + extra


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
