"""The household the understanding bench's labelled set is said in: its devices, its state, its moment.

``tests/data/understanding_en.tsv`` assumes exactly this: 17 lights and 6 other devices in 12
areas (ten of the lights dimmable), an appliance standing in the living room, five timers and
two lists with things on them, and the clock stopped at :data:`EVAL_NOW`.  :func:`scaled_home`
is a far bigger house (300 devices in 50 areas) for timing recognition with long slot lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from appliance.settings import HomeDevice

EVAL_ZONE = ZoneInfo("Europe/London")
EVAL_NOW = dt.datetime(2026, 12, 1, 20, 31, tzinfo=EVAL_ZONE)
"""Tuesday 1 December 2026, 20:31 in London: the moment every line of the set is said at."""
HERE = "living room"
"""The area the appliance stands in ("in here", "the lights")."""

# name, kind, area, aliases, dimmable
HOME: tuple[tuple[str, str, str, tuple[str, ...], bool], ...] = (
    ("kitchen light", "light", "kitchen", (), True),
    ("kitchen counter lights", "light", "kitchen", ("under cabinet lights",), False),
    ("coffee machine", "switch", "kitchen", ("coffee maker",), False),
    ("living room ceiling light", "light", "living room", ("big light",), True),
    ("living room lamp", "light", "living room", ("floor lamp",), True),
    ("play corner lights", "light", "living room", (), True),
    ("christmas tree", "outlet", "living room", ("tree lights",), False),
    ("dining table light", "light", "dining room", ("dining light",), True),
    ("hallway light", "light", "hallway", ("hall light",), False),
    ("landing light", "light", "landing", (), False),
    ("bedroom ceiling light", "light", "bedroom", ("bedroom light",), True),
    ("bedside lamp", "light", "bedroom", ("reading lamp",), True),
    ("bedroom fan", "fan", "bedroom", (), False),
    ("desk lamp", "light", "office", (), True),
    ("office light", "light", "office", (), False),
    ("desk fan", "fan", "office", (), False),
    ("kids room light", "light", "kids room", ("Emma's light",), True),
    ("night light", "light", "kids room", ("star lamp",), True),
    ("bathroom light", "light", "bathroom", (), False),
    ("towel rail", "heater", "bathroom", ("towel heater",), False),
    ("porch light", "light", "porch", (), False),
    ("garden lights", "light", "garden", ("fairy lights",), False),
    ("garage heater", "heater", "garage", (), False),
)

TIMERS: tuple[tuple[str, int], ...] = (("pasta", 600), ("pizza", 900), ("tea", 240), ("egg", 420), ("laundry", 2400))
"""Timers running when the set is said: (name, seconds)."""
LISTS: dict[str, tuple[str, ...]] = {
    "shopping": (
        "milk",
        "bread",
        "eggs",
        "coffee",
        "butter",
        "cheese",
        "tomatoes",
        "rice",
        "dog food",
        "apples",
        "pears",
    ),
    "to-do": ("call the bank", "fix the bike", "renew passport"),
}
"""What the lists hold when the set is said."""

SCALED_AREAS = (
    "kitchen", "living room", "dining room", "hallway", "landing", "bedroom", "office", "kids room", "bathroom",
    "porch", "garden", "garage", "utility room", "pantry", "cellar", "attic", "loft", "guest room", "nursery",
    "playroom", "study", "library", "conservatory", "sunroom", "laundry room", "en suite", "dressing room", "gym",
    "cinema room", "games room", "music room", "workshop", "shed", "greenhouse", "patio", "balcony", "terrace",
    "driveway", "front yard", "back yard", "side passage", "boot room", "snug", "den", "family room",
    "master bedroom", "second bedroom", "third bedroom", "staircase", "entrance",
)  # fmt: skip
SCALED_THINGS = (
    ("light", "light", True), ("lamp", "light", True), ("spotlights", "light", True),
    ("wall lights", "light", False), ("fan", "fan", False), ("socket", "outlet", False),
)  # fmt: skip


def device(name: str, kind: str, area: str, aliases: Iterable[str] = (), dimmable: bool = False) -> HomeDevice:
    """One ``[[mqtt.devices]]`` entry on topics of its own (with a state topic; a brightness topic if dimmable)."""
    slug = name.replace(" ", "_").replace("'", "")
    return HomeDevice(
        name=name,
        command_topic=f"home/{slug}/set",
        state_topic=f"home/{slug}/state",
        aliases=tuple(aliases),
        area=area,
        kind=kind,
        brightness_command_topic=f"home/{slug}/brightness/set" if dimmable else "",
    )


def fixture_home() -> tuple[HomeDevice, ...]:
    """The labelled set's home: 23 devices (17 lights) in 12 areas."""
    return tuple(device(*entry) for entry in HOME)


def scaled_home(devices: int = 300, areas: int = 50) -> tuple[HomeDevice, ...]:
    """``devices`` devices spread over ``areas`` areas, "<area> <thing>" (for timing only)."""
    if not 0 < areas <= len(SCALED_AREAS) or devices > areas * len(SCALED_THINGS):
        raise ValueError(f"at most {len(SCALED_AREAS)} areas and {len(SCALED_THINGS)} devices per area")
    out = []
    for i in range(devices):
        area = SCALED_AREAS[i % areas]
        thing, kind, dimmable = SCALED_THINGS[i // areas]
        out.append(device(f"{area} {thing}", kind, area, dimmable=dimmable))
    return tuple(out)
