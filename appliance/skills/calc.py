"""Arithmetic said aloud, evaluated safely: a small recursive-descent parser over words, never ``eval``.

Grammar (lowest precedence first)::

    sum     := product (("plus" | "minus" | "and") product)*
    product := power (("times" | "multiplied by" | "divided by" | "over") power)*
    power   := unary ("to the power of" unary | "squared" | "cubed")*
    unary   := "minus" unary | "the"? ("square" | "cube") "root of" unary | percent
    percent := primary ("percent" ("of" unary)?)? | primary "of" unary   (fractions: "a third of 90")
    primary := number
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from appliance.skills.errors import SkillError
from appliance.skills.numbers import parse_number, spoken_number, words

MAX_EXPONENT = 64
MAX_MAGNITUDE = 1e15
_OPS = (
    (re.compile(r"×|\*|(?<=\d)\s*x\s*(?=\d)"), " times "),
    (re.compile(r"÷|(?<=\d)\s*/\s*(?=\d)"), " divided by "),
    (re.compile(r"\+"), " plus "),
    (re.compile(r"(?<=\d)\s*\^\s*(?=\d)"), " to the power of "),
    (re.compile(r"(?<=[\d\s])-(?=\s*\d)|\s-\s"), " minus "),
    (re.compile(r"√"), " square root of "),
)
_PRODUCT = {("times",): "*", ("x",): "*", ("multiplied", "by"): "*", ("divided", "by"): "/", ("over",): "/"}
_SUM = {("plus",): "+", ("and",): "+", ("add",): "+", ("minus",): "-", ("take", "away"): "-", ("less",): "-"}
_POWER = (("to", "the", "power", "of"), ("to", "the", "power"), ("raised", "to", "the", "power", "of"),
          ("raised", "to"), ("to", "the"))  # fmt: skip


def _calc_error(message: str) -> SkillError:
    return SkillError("calc-failed", message, message)


@dataclass(frozen=True)
class Calculation:
    """What was asked (as words, operators spelled out) and its value."""

    said: str
    value: float

    def speech(self) -> str:
        """'seven times eight is 56'."""
        return f"{self.said} is {spoken_number(self.value)}"


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, *seq: str) -> bool:
        return tuple(self.tokens[self.i : self.i + len(seq)]) == seq

    def take(self, table: dict[tuple[str, ...], str]) -> str | None:
        for seq, op in table.items():
            if self.peek(*seq):
                self.i += len(seq)
                return op
        return None

    def sum(self) -> float:
        value = self.product()
        while (op := self.take(_SUM)) is not None:
            right = self.product()
            value = value + right if op == "+" else value - right
        return value

    def product(self) -> float:
        value = self.power()
        while (op := self.take(_PRODUCT)) is not None:
            right = self.power()
            if op == "/" and right == 0:
                raise _calc_error("I can't divide by zero.")
            value = value * right if op == "*" else value / right
        return _bounded(value)

    def power(self) -> float:
        value = self.unary()
        while True:
            if self.peek("squared"):
                self.i += 1
                value = value**2
            elif self.peek("cubed"):
                self.i += 1
                value = value**3
            elif seq := next((s for s in _POWER if self.peek(*s)), None):
                self.i += len(seq)
                exponent = self.unary()
                if abs(exponent) > MAX_EXPONENT or (value == 0 and exponent < 0):
                    raise _calc_error(f"I can only raise to powers up to {MAX_EXPONENT}.")
                if value < 0 and exponent != int(exponent):
                    raise _calc_error("That power has no real answer.")
                value = value**exponent
                if self.peek("power"):
                    self.i += 1
            else:
                return _bounded(value)

    def unary(self) -> float:
        if self.peek("minus") or self.peek("negative"):
            self.i += 1
            return -self.unary()
        if self.peek("the"):
            self.i += 1
        for root, degree in (("square", 2), ("cube", 3)):
            if self.peek(root, "root", "of") or self.peek(root, "root"):
                self.i += 3 if self.peek(root, "root", "of") else 2
                value = self.unary()
                if degree == 2 and value < 0:
                    raise _calc_error("A negative number has no real square root.")
                return math.copysign(abs(value) ** (1 / degree), value) if degree == 3 else math.sqrt(value)
        return self.percent()

    def percent(self) -> float:
        value = self.primary()
        if self.peek("percent") or self.peek("per", "cent"):
            self.i += 1 if self.peek("percent") else 2
            value /= 100
            if self.peek("of"):
                self.i += 1
                value *= self.unary()
        elif self.peek("of") and value < 1:
            self.i += 1
            value *= self.unary()
        return value

    def primary(self) -> float:
        found = parse_number(self.tokens, self.i, allow_article=True)
        if found is None:
            raise _calc_error("I didn't catch the numbers.")
        value, self.i = found
        return value


def _bounded(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise _calc_error("That number is too big for me.")
    return value


def normalise(text: str) -> list[str]:
    """Tokens with symbols spelled out ('7x8' → ['7', 'times', '8'])."""
    for pattern, repl in _OPS:
        text = pattern.sub(repl, text)
    return words(text)


def calculate(text: str) -> Calculation | None:
    """Evaluate an arithmetic phrase ('seven times eight' → 56); None if it is not all arithmetic.

    Raises SkillError for arithmetic that has no answer (division by zero, a huge power).
    """
    tokens = normalise(text)
    if not tokens or not any(t in _OPERATOR_WORDS for t in tokens):
        return None
    parser = _Parser(tokens)
    try:
        value = parser.sum()
    except SkillError as err:
        if err.speech == "I didn't catch the numbers.":
            return None
        raise
    if parser.i != len(tokens):
        return None
    return Calculation(" ".join(tokens), value)


_OPERATOR_WORDS = frozenset(
    {"plus", "minus", "times", "multiplied", "divided", "over", "power", "squared", "cubed", "root", "percent",
     "of", "add", "less", "x", "cent"}
)  # fmt: skip
