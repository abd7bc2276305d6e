"""Unit conversions: length, mass, volume (cooking units included), temperature, speed and time.

Cooking units are US customary (cup 236.59 ml, tablespoon 14.79 ml, teaspoon
4.93 ml, fluid ounce 29.57 ml, pint 473 ml); "imperial pint" / "uk pint" is
568 ml.  Names are spoken with British spelling ("centimetres").
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.skills.errors import SkillError
from appliance.skills.numbers import parse_number, spoken_number, words


@dataclass(frozen=True)
class Unit:
    singular: str
    plural: str
    dimension: str
    factor: float
    """Base units (metre, gram, millilitre, metre per second, second) per one of this; temperatures add ``offset``."""
    offset: float = 0.0
    """Kelvin = value × factor + offset (temperatures only)."""


def _u(singular: str, plural: str, dimension: str, factor: float, offset: float = 0.0) -> Unit:
    return Unit(singular, plural, dimension, factor, offset)


UNITS: dict[str, Unit] = {}
_ALIASES: dict[tuple[str, ...], str] = {}


def _define(key: str, unit: Unit, *aliases: str) -> None:
    UNITS[key] = unit
    names = {unit.singular, unit.plural, *aliases}
    for name in names | {n.replace("metre", "meter").replace("litre", "liter") for n in names}:
        _ALIASES[tuple(words(name))] = key


for _key, _unit, _aliases in (
    ("mm", _u("millimetre", "millimetres", "length", 0.001), ("mm",)),
    ("cm", _u("centimetre", "centimetres", "length", 0.01), ("cm", "cms")),
    ("m", _u("metre", "metres", "length", 1.0), ("m",)),
    ("km", _u("kilometre", "kilometres", "length", 1000.0), ("km", "kms", "k")),
    ("in", _u("inch", "inches", "length", 0.0254), ("in",)),
    ("ft", _u("foot", "feet", "length", 0.3048), ("ft", "foots")),
    ("yd", _u("yard", "yards", "length", 0.9144), ("yd", "yds")),
    ("mi", _u("mile", "miles", "length", 1609.344), ()),
    ("mg", _u("milligram", "milligrams", "mass", 0.001), ("mg",)),
    ("g", _u("gram", "grams", "mass", 1.0), ("g", "gramme", "grammes")),
    ("kg", _u("kilogram", "kilograms", "mass", 1000.0), ("kg", "kilo", "kilos")),
    ("t", _u("tonne", "tonnes", "mass", 1e6), ("metric ton", "metric tons")),
    ("oz", _u("ounce", "ounces", "mass", 28.349523125), ("oz",)),
    ("lb", _u("pound", "pounds", "mass", 453.59237), ("lb", "lbs")),
    ("st", _u("stone", "stone", "mass", 6350.29318), ("stones",)),
    ("ml", _u("millilitre", "millilitres", "volume", 1.0), ("ml", "mls")),
    ("cl", _u("centilitre", "centilitres", "volume", 10.0), ("cl",)),
    ("l", _u("litre", "litres", "volume", 1000.0), ("l",)),
    ("tsp", _u("teaspoon", "teaspoons", "volume", 4.92892159375), ("tsp", "teaspoonful", "teaspoonfuls")),
    ("tbsp", _u("tablespoon", "tablespoons", "volume", 14.78676478125), ("tbsp", "tablespoonful")),
    ("floz", _u("fluid ounce", "fluid ounces", "volume", 29.5735295625), ("fl oz",)),
    ("cup", _u("cup", "cups", "volume", 236.5882365), ()),
    ("pt", _u("pint", "pints", "volume", 473.176473), ("us pint", "us pints")),
    ("ukpt", _u("imperial pint", "imperial pints", "volume", 568.26125), ("uk pint", "uk pints")),
    ("qt", _u("quart", "quarts", "volume", 946.352946), ()),
    ("gal", _u("gallon", "gallons", "volume", 3785.411784), ()),
    ("c", _u("degree Celsius", "degrees Celsius", "temperature", 1.0, 273.15),
     ("celsius", "centigrade", "degrees centigrade", "degree centigrade", "c")),
    ("f", _u("degree Fahrenheit", "degrees Fahrenheit", "temperature", 5 / 9, 273.15 - 32 * 5 / 9),
     ("fahrenheit", "f")),
    ("k", _u("kelvin", "kelvin", "temperature", 1.0, 0.0), ("kelvins", "degrees kelvin")),
    ("kmh", _u("kilometre per hour", "kilometres per hour", "speed", 1 / 3.6),
     ("km/h", "kph", "km per hour", "kilometres an hour", "kilometers an hour")),
    ("mph", _u("mile per hour", "miles per hour", "speed", 0.44704), ("mph", "miles an hour")),
    ("ms", _u("metre per second", "metres per second", "speed", 1.0), ("m/s", "metres a second")),
    ("kn", _u("knot", "knots", "speed", 0.514444), ()),
    ("s", _u("second", "seconds", "time", 1.0), ("secs",)),
    ("min", _u("minute", "minutes", "time", 60.0), ("mins",)),
    ("h", _u("hour", "hours", "time", 3600.0), ("hrs",)),
    ("d", _u("day", "days", "time", 86400.0), ()),
    ("wk", _u("week", "weeks", "time", 604800.0), ()),
):  # fmt: skip
    _define(_key, _unit, *_aliases)
_LONGEST = max(len(k) for k in _ALIASES)


def unit_at(tokens: list[str], i: int) -> tuple[str, int] | None:
    """The unit named at token ``i`` (longest name first): ('cm', next index)."""
    for length in range(min(_LONGEST, len(tokens) - i), 0, -1):
        key = _ALIASES.get(tuple(tokens[i : i + length]))
        if key is not None:
            return key, i + length
    return None


def convert(value: float, source: str, target: str) -> float:
    """``value`` in unit ``source`` expressed in ``target``; SkillError if they measure different things."""
    a, b = UNITS[source], UNITS[target]
    if a.dimension != b.dimension:
        message = f"I can't convert {a.plural} to {b.plural}."
        raise SkillError("convert-failed", message, message)
    return (value * a.factor + a.offset - b.offset) / b.factor


def name(key: str, value: float) -> str:
    """The spoken unit name for ``value`` of it ('1 inch', '2 inches')."""
    unit = UNITS[key]
    return unit.singular if abs(value) == 1 else unit.plural


@dataclass(frozen=True)
class Conversion:
    said: str
    """The amount as said ('three')."""
    value: float
    source: str
    target: str
    result: float

    def speech(self) -> str:
        """'three inches is 7.62 centimetres'."""
        places = 1 if UNITS[self.target].dimension == "temperature" else 2
        result = self.result
        shown = spoken_number(result, places) if abs(result) >= 0.01 or result == 0 else f"{result:.2g}"
        return f"{self.said} {name(self.source, self.value)} is {shown} {name(self.target, float(shown))}"


def parse_conversion(text: str) -> Conversion | None:
    """'convert 3 inches to centimetres', 'what is 180 celsius in fahrenheit', 'how many cups in a litre'."""
    tokens = _keep_degrees(words(text.replace("°", " degrees ")))
    for i in range(len(tokens)):
        amount = parse_number(tokens, i, allow_article=True)
        if amount is None:
            continue
        source = unit_at(tokens, amount[1])
        if source is None:
            continue
        j = source[1]
        if j < len(tokens) and tokens[j] in ("in", "to", "into", "as"):
            target = unit_at(tokens, j + 1)
            if target is not None and target[1] == len(tokens):
                return _conversion(tokens[i : amount[1]], amount[0], source[0], target[0])
        if tokens[:2] in (["how", "many"], ["how", "much"]) and j == len(tokens) and i >= 3:
            target = unit_at(tokens, 2)  # "how many cups (are there) in a litre"
            if target is not None and tokens[i - 1] in ("in", "is", "are"):
                return _conversion(tokens[i : amount[1]], amount[0], source[0], target[0])
    return None


def _keep_degrees(tokens: list[str]) -> list[str]:
    """Drop a bare 'degrees' before a temperature scale's short name ('350 degrees f' → '350 f')."""
    out = []
    for n, tok in enumerate(tokens):
        nxt = tokens[n + 1] if n + 1 < len(tokens) else ""
        if tok in ("degree", "degrees") and nxt in ("c", "f", "celsius", "fahrenheit", "centigrade"):
            continue
        out.append(tok)
    return out


def _conversion(said: list[str], value: float, source: str, target: str) -> Conversion:
    return Conversion(" ".join(said), value, source, target, convert(value, source, target))
