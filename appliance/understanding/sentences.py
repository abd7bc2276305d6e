"""Home Assistant's intent sentences for one language, matched with hassil: text → a :class:`Recognition`.

``home-assistant-intents`` ships each language's sentence templates as JSON; they
are loaded once per language and cut down to the intents the appliance handles
(:data:`HANDLED`) and, for home control, to the domains its devices can be
(lights, switches, fans).  What is left is matched with hassil against slot lists
filled from the appliance's own configuration (:mod:`.vocabulary`).

Recognition never raises and is bounded: text over :data:`MAX_CHARS` or without a
letter is not matched at all, and hassil skips every template whose literal words
are missing from the text before trying it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hassil import Intents, recognize_best
from hassil.intents import SlotList, WildcardSlotList
from home_assistant_intents import get_intents, get_languages

from appliance.core.errors import ConfigError
from appliance.home.request import HERE
from appliance.understanding.extra import EXTRA

_LOGGER = logging.getLogger(__name__)

HANDLED = frozenset(
    {
        "HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer", "HassDecreaseTimer",
        "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus",
        "HassGetCurrentTime", "HassGetCurrentDate",
        "HassSetVolume", "HassSetVolumeRelative",
        "HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious",
        "HassListAddItem", "HassShoppingListAddItem", "HassListRemoveItem", "HassListCompleteItem",
        "HassShoppingListCompleteItem",
        "HassNevermind", "HassBroadcast",
        "HassTurnOn", "HassTurnOff", "HassLightSet", "HassGetState",
        "ApplianceGetWeekday", "ApplianceListShow", "ApplianceBroadcast", "ApplianceStartTimer", "ApplianceTellRoom",
    }
)  # fmt: skip
"""Intents the appliance maps onto its own (:mod:`.mapping`): Home Assistant's, and its own few (:mod:`.extra`)."""
HOME_INTENTS = frozenset({"HassTurnOn", "HassTurnOff", "HassLightSet", "HassGetState"})
"""Intents that need home control; left out when no devices are configured."""
DELEGATED = (
    "HassClimateSetTemperature", "HassClimateSetFanMode", "HassFanSetSpeed", "HassSetPosition",
    "HassVacuumStart", "HassVacuumReturnToBase", "HassVacuumCleanArea", "HassLawnMowerDock",
    "HassLawnMowerStartMowing", "HassGetWeather",
)  # fmt: skip
"""With Home Assistant: its sentences the appliance does not carry out; its own agent answers them."""
ASSISTANT_INTENTS = frozenset({"HassClimateGetTemperature", *DELEGATED})
"""Loaded only with Home Assistant (``home_assistant.url``)."""
DOMAINS = frozenset({"light", "switch", "fan", "todo"})
"""Domains a sentence may ask for: the devices' kinds, and the lists."""
ASSISTANT_DOMAINS = DOMAINS | {"input_boolean", "cover", "lock", "scene", "script", "sensor", "binary_sensor"}
ASSISTANT_DOMAINS |= {"climate", "valve", "vacuum", "lawn_mower", "humidifier", "water_heater", "weather"}
"""With Home Assistant, what its entities may be (never media players: "pause" is the appliance's own)."""
MAX_CHARS = 300
"""Longer text is no request a sentence covers (and would cost hassil time)."""
_LETTER = re.compile(r"[^\W\d_]")
_BARE_NAME = re.compile(r"^\[<the>\] \{name\}$")
"""HassTurnOn's "[the] {name}": a device's name alone is not a request to switch it on."""


@dataclass(frozen=True)
class Recognition:
    """One matched sentence: the Home Assistant intent and its slot values."""

    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    """Slot name → value (numbers as matched, list values as their output, wildcards as said)."""
    combination: str = ""
    """The template block's ``slot_combination`` ("name_only", "area_domain", …)."""
    text: str = ""


@functools.lru_cache(maxsize=4)
def _intents(language: str, with_home: bool, assistant: bool = False) -> Intents:
    """The handled intents of ``language``, parsed once (hassil compiles templates lazily).

    ``assistant``: Home Assistant is linked: its domains, and the sentences its own agent answers.
    """
    data = get_intents(language)
    if data is None:  # listed but missing: a broken installation
        raise ConfigError("config-value", f"understanding.language = {language!r}: its sentences are not installed")
    wanted = HANDLED if with_home else HANDLED - HOME_INTENTS
    if with_home and assistant:
        wanted |= ASSISTANT_INTENTS
    domains = ASSISTANT_DOMAINS if with_home and assistant else DOMAINS
    extra = EXTRA.get(language, {})
    data = {**data, "lists": {**data.get("lists", {}), **extra.get("lists", {})}}
    data["intents"] = {
        name: {**intent, "data": [_trim(block) for block in intent["data"] if _kept(block, domains)]}
        for name, intent in _merged(data["intents"], extra.get("intents", {})).items()
        if name in wanted
    }
    intents = Intents.from_dict(data)
    start = intents.intents.get("HassStartTimer")
    for block in start.data if start else ():
        block.slot_lists["timer_name"] = WildcardSlotList(name="timer_name")  # any name for a new timer
    _warm(intents)
    return intents


def _merged(maintained: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """Home Assistant's intents with the appliance's own: blocks of an intent both have are added to its own."""
    merged = dict(maintained)
    for name, intent in own.items():
        kept = merged.get(name)
        merged[name] = {**kept, "data": [*kept["data"], *intent["data"]]} if kept else intent
    return merged


def _warm(intents: Intents) -> None:
    """Parse every template and its required words now, once per language, instead of in the first request.

    hassil does both lazily, on the first text it matches: about 0.1 s of CPU, which a spoken request
    would otherwise wait for (the first turn after a start).
    """
    for intent in intents.intents.values():
        for block in intent.data:
            rules = {**intents.expansion_rules, **block.expansion_rules}
            for sentence in block.sentences:
                sentence.get_required_clauses(rules)


def _kept(block: Mapping[str, Any], domains: frozenset[str] = DOMAINS) -> bool:
    """Whether a template block asks for something the appliance has."""
    combination = str(block.get("metadata", {}).get("slot_combination", ""))
    if combination.startswith("command_"):  # "turn off the lights in ten minutes": a delayed command
        return False
    fixed = block.get("slots", {}).get("domain")
    if fixed is not None and fixed not in domains:
        return False
    required = block.get("requires_context", {}).get("domain")
    if isinstance(required, list) and not domains.intersection(required):
        return False
    return not (isinstance(required, str) and required not in domains)


def _trim(block: Mapping[str, Any]) -> dict[str, Any]:
    return {**block, "sentences": [s for s in block["sentences"] if not _BARE_NAME.match(s)]}


def languages() -> list[str]:
    """Languages home-assistant-intents has sentences for."""
    return list(get_languages())


class SentenceLibrary:
    """One language's handled sentences and the current slot lists; :meth:`recognize` never raises."""

    def __init__(self, language: str = "en", *, with_home: bool = True, assistant: bool = False) -> None:
        if language not in get_languages():
            available = ", ".join(get_languages())
            raise ConfigError(
                "config-value", f"understanding.language = {language!r} is not available; available: {available}"
            )
        self.language = language
        self.intents = _intents(language, with_home, assistant)
        self.slot_lists: dict[str, SlotList] = {}

    def recognize(self, text: str) -> Recognition | None:
        """The best sentence match for ``text``, or None (also for empty, long or letterless text)."""
        if not text or len(text) > MAX_CHARS or not _LETTER.search(text):
            return None
        try:
            result = recognize_best(
                text,
                self.intents,
                slot_lists=self.slot_lists,
                intent_context={"area": HERE},
                language=self.language,
                best_slot_name="name",
            )
        except Exception:  # a template or list the library cannot handle must not cost the turn
            _LOGGER.exception("Sentence matching failed (%d characters)", len(text))
            return None
        if result is None:
            return None
        slots = {name: entity.value for name, entity in result.entities.items()}
        metadata = result.intent_metadata or {}
        return Recognition(result.intent.name, slots, str(metadata.get("slot_combination", "")), text)
