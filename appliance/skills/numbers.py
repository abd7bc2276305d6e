"""Numbers as people say them: digits, words, decimals and fractions ("four and a half", "two point five").

Everything works on the token list from :func:`words`, so the duration, time
and arithmetic parsers share one idea of what a number is.  A parser returns
``(value, next_index)`` or None; it never guesses.
"""

from __future__ import annotations

import re

ONES = {
    "zero": 0, "oh": 0, "nought": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}  # fmt: skip
SCALES = {"thousand": 1000, "million": 1_000_000}
FRACTIONS = {"half": 0.5, "halves": 0.5, "third": 1 / 3, "thirds": 1 / 3, "quarter": 0.25, "quarters": 0.25}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_ORDINAL_DIGITS = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")
_SIGN = {"minus": -1, "negative": -1}

_SUBS = (
    (re.compile(r"×"), " times "),
    (re.compile(r"÷"), " divided by "),
    (re.compile(r"√"), " square root of "),
    (re.compile(r"\b([ap])\.\s?m\b\.?"), r"\1m"),
    (re.compile(r"\bo'?\s?clock\b"), " oclock "),
    (re.compile(r"(\d)\s*(am|pm)\b"), r"\1 \2"),
    (re.compile(r"(\d)(%)"), r"\1 percent"),
    (re.compile(r"%"), " percent "),
    (re.compile(r"(\d)(h|hr|hrs|hours?|m|min|mins|minutes?|s|sec|secs|seconds?|days?)\b"), r"\1 \2"),
    (re.compile(r"(?<=[a-z])-(?=[a-z])"), " "),
    (re.compile(r"[^\w:.,'+\-*/^ ]"), " "),
    (re.compile(r"(?<!\d)[.,]|[.,](?!\d)"), " "),
    (re.compile(r"(?<![a-z])'|'(?![a-z])"), " "),
)


def words(text: str) -> list[str]:
    """Lower-case tokens: 'Set a 7pm alarm, please.' → ['set', 'a', '7', 'pm', 'alarm', 'please']."""
    text = f" {text.lower()} "
    for pattern, repl in _SUBS:
        text = pattern.sub(repl, text)
    return text.split()


def is_number_word(token: str) -> bool:
    """True for a token that starts a number ('seven', '12', 'half')."""
    return token in ONES or token in TENS or token in FRACTIONS or token in _SIGN or bool(_DIGITS.fullmatch(token))


def parse_integer(tokens: list[str], i: int) -> tuple[int, int] | None:
    """A whole number in words or digits starting at ``i`` ('one hundred and five', '2,000')."""
    if i < len(tokens) and _DIGITS.fullmatch(tokens[i]) and "." not in tokens[i]:
        return int(tokens[i].replace(",", "")), i + 1
    total, current, j, seen = 0, 0, i, False
    while j < len(tokens):
        tok = tokens[j]
        after_round = current % 100 == 0 and (current > 0 or total > 0)
        if tok in ONES and (not seen or (current % 10 == 0 and current % 100 >= 20) or after_round):
            if tok == "oh" and not seen:
                return None
            current += ONES[tok]
        elif tok in TENS and (not seen or after_round):
            current += TENS[tok]
        elif tok == "hundred" and (current % 100 or not seen):
            current = (current or 1) * 100
        elif tok in SCALES and (seen or current):
            total += (current or 1) * SCALES[tok]
            current = 0
        elif tok == "a" and not seen and j + 1 < len(tokens) and tokens[j + 1] in ("hundred", *SCALES):
            current = 1
            j += 1
            current *= 100 if tokens[j] == "hundred" else 1
            if tokens[j] in SCALES:
                total, current = SCALES[tokens[j]], 0
        elif tok == "and" and seen and (current % 100 == 0 or total) and _continues_integer(tokens, j + 1):
            pass
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return total + current, j


def _continues_integer(tokens: list[str], j: int) -> bool:
    return j < len(tokens) and (tokens[j] in ONES or tokens[j] in TENS) and tokens[j] != "oh"


def parse_fraction(tokens: list[str], i: int) -> tuple[float, int] | None:
    """'a half', 'half', 'a quarter', 'three quarters', 'two thirds', '1/2' starting at ``i``."""
    if i < len(tokens) and (m := re.fullmatch(r"(\d+)/(\d+)", tokens[i])) and int(m[2]):
        return int(m[1]) / int(m[2]), i + 1
    j = i
    count = 1
    if j < len(tokens) and tokens[j] in ("a", "an", "one"):
        j += 1
    elif j < len(tokens) and tokens[j] in ONES and tokens[j] != "oh":
        count = ONES[tokens[j]]
        j += 1
    if j < len(tokens) and tokens[j] in FRACTIONS:
        if count > 1 and not tokens[j].endswith("s") and tokens[j] != "half":
            return None
        return count * FRACTIONS[tokens[j]], j + 1
    return None


def parse_number(tokens: list[str], i: int, *, allow_article: bool = False) -> tuple[float, int] | None:
    """A number: sign, integer or decimal, then 'and a half'-style fractions; or a fraction alone.

    ``allow_article`` lets 'a'/'an' stand for one ('an hour'); 'a couple' is 2 and 'a dozen' 12.
    """
    sign = 1
    if i < len(tokens) and tokens[i] in _SIGN:
        sign, i = -1, i + 1
    if i < len(tokens) and _DIGITS.fullmatch(tokens[i]):
        value: float = float(tokens[i].replace(",", ""))
        j = i + 1
    elif (whole := _whole(tokens, i)) is not None:
        value, j = whole
    elif (frac := parse_fraction(tokens, i)) is not None:
        return sign * frac[0], frac[1]
    elif allow_article and i < len(tokens) and tokens[i] in ("a", "an"):
        value, j = _article(tokens, i)
    else:
        return None
    if j + 1 < len(tokens) and tokens[j] == "point" and (tokens[j + 1] in ONES or tokens[j + 1].isdigit()):
        digits = ""
        j += 1
        while j < len(tokens) and ((tokens[j] in ONES and ONES[tokens[j]] < 10) or tokens[j].isdigit()):
            digits += str(ONES[tokens[j]]) if tokens[j] in ONES else tokens[j]
            j += 1
        value = float(f"{int(value)}.{digits}")
    if j + 1 < len(tokens) and tokens[j] == "and" and (frac := parse_fraction(tokens, j + 1)) and frac[0] < 1:
        value, j = value + frac[0], frac[1]
    return sign * value, j


def _whole(tokens: list[str], i: int) -> tuple[float, int] | None:
    found = parse_integer(tokens, i)
    if found is None:
        return None
    # "three quarters" / "two thirds": a fraction, not the integer three followed by a stray word
    if found[1] < len(tokens) and tokens[found[1]] in ("quarters", "thirds", "halves"):
        return None
    return float(found[0]), found[1]


def _article(tokens: list[str], i: int) -> tuple[float, int]:
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if nxt == "couple":
        return 2.0, i + (3 if i + 2 < len(tokens) and tokens[i + 2] == "of" else 2)
    if nxt == "dozen":
        return 12.0, i + 2
    return 1.0, i + 1


def parse_ordinal(tokens: list[str], i: int) -> tuple[int, int] | None:
    """'25th', 'twenty fifth', 'first' starting at ``i`` (days of the month)."""
    if i >= len(tokens):
        return None
    if m := _ORDINAL_DIGITS.fullmatch(tokens[i]):
        return int(m[1]), i + 1
    if tokens[i] in ORDINALS:
        return ORDINALS[tokens[i]], i + 1
    if tokens[i] in TENS and i + 1 < len(tokens) and tokens[i + 1] in ORDINALS and ORDINALS[tokens[i + 1]] < 10:
        return TENS[tokens[i]] + ORDINALS[tokens[i + 1]], i + 2
    return None


def spoken_number(value: float, places: int = 2) -> str:
    """A result as it should be read out: 56, 7.62, 0.33, -4, 1,000,000 → '1000000' stays digits for TTS."""
    rounded = round(value, places)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.{places}f}".rstrip("0").rstrip(".")
