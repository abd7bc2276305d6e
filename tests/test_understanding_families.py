"""More families of everyday phrasing, through the sentences, the skills' rules and home control's grammar.

Every sentence here was written for this test (none from a labelled set, the semantic layer's examples or
another assistant's tests).  Timers named "pasta", "egg" and "laundry" are running, and the home has a fan
beside the lights in the kitchen, so that a timer said by its name alone, a plural name, and everything
in a room can be told apart.  Near misses check that a family's words alone do not claim talk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.home.control import HomeControl
from appliance.settings import HomeDevice
from appliance.skills.phrasing import name_before
from appliance.skills.timer_names import forms, mentioned, running_name
from appliance.understanding.matcher import SentenceMatcher
from appliance.understanding.sentences import SentenceLibrary
from appliance.voice.reply import Intent

from .test_understanding_phrasings import Chain
from .test_understanding_sentences import DEVICES

HOME = (
    *DEVICES,
    HomeDevice(name="extractor fan", kind="fan", area="kitchen", command_topic="home/kitchen/fan"),
    HomeDevice(name="radio", kind="switch", area="kitchen", command_topic="home/kitchen/radio"),
)


class Household(Chain):
    """The chain with three timers running and home control's own grammar last, as a turn tries them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.home = HomeControl(HOME, publish=self._publish, report=lambda event: None)
        self.ports.home = self.home
        self.matcher = SentenceMatcher(SentenceLibrary("en"), self.ports, devices=HOME)
        for name, seconds in (("pasta", 600), ("egg", 420), ("laundry", 2400)):
            self.skills.start_timer(seconds, name)

    def first(self, text: str) -> Intent | None:
        return super().first(text) or self.home.match(text)


@pytest.fixture
def house(tmp_path: Path) -> Iterator[Household]:
    made = Household(tmp_path)
    yield made
    made.skills.close()


FAMILIES: list[tuple[str, str, dict[str, Any]]] = [
    # a running timer by its name alone, or by its name in the other number
    ("Is the pasta ready yet?", "timer.remaining", {"name": "pasta"}),
    ("when will the laundry be finished", "timer.remaining", {"name": "laundry"}),
    ("How much longer for the eggs?", "timer.remaining", {"name": "egg"}),
    ("how many more seconds on the pasta", "timer.remaining", {"name": "pasta"}),
    ("how long is left on the laundry", "timer.remaining", {"name": "laundry"}),
    ("Give the pasta three more minutes.", "timer.add", {"duration_s": 180, "name": "pasta"}),
    ("the laundry needs another ten minutes", "timer.add", {"duration_s": 600, "name": "laundry"}),
    ("plus two minutes on the pasta timer", "timer.add", {"duration_s": 120, "name": "pasta"}),
    ("Shave a minute off the eggs", "timer.remove", {"duration_s": 60, "name": "egg"}),
    ("the laundry can have five minutes less", "timer.remove", {"duration_s": 300, "name": "laundry"}),
    ("add thirty seconds to the pasta", "timer.add", {"duration_s": 30, "name": "pasta"}),
    ("Pause the laundry.", "timer.pause", {"name": "laundry"}),
    ("cancel the eggs", "timer.cancel", {"name": "egg"}),
    ("unpause the pasta", "timer.resume", {"name": "pasta"}),
    ("what's left on the laundry?", "timer.remaining", {"name": "laundry"}),
    ("Cancel the eggs timer", "timer.cancel", {"name": "egg"}),
    ("pause the pastas timer", "timer.pause", {"name": "pasta"}),
    # stopped for a while is paused; switched off is cancelled; when it rings is what is left
    ("Hold the laundry timer for now", "timer.pause", {"name": "laundry"}),
    ("stop my pasta timer for a sec, I'll be right back", "timer.pause", {"name": "pasta"}),
    ("Stop the egg timer but don't cancel it", "timer.pause", {"name": "egg"}),
    ("turn the pasta timer off", "timer.cancel", {"name": "pasta"}),
    ("When's the egg timer going to ring?", "timer.remaining", {"name": "egg"}),
    ("the cake is in the oven, time it for half an hour", "timer.start", {"duration_s": 1800}),
    ("set timer for the bread, 25 minutes", "timer.start", {"duration_s": 1500, "name": "bread"}),
    # an alarm said as the time to be up; an alarm for tomorrow at a bare hour is in the morning
    ("I have to be up by half six", "alarm.set", {"due": "2026-12-02T06:30:00+00:00"}),
    ("we need to get up at 7 tomorrow", "alarm.set", {"due": "2026-12-02T07:00:00+00:00"}),
    ("I've got to be up at 6 tomorrow", "alarm.set", {"due": "2026-12-02T06:00:00+00:00"}),
    ("set an alarm for seven fifteen tomorrow", "alarm.set", {"due": "2026-12-02T07:15:00+00:00"}),
    ("alarm at 4 tomorrow afternoon", "alarm.set", {"due": "2026-12-02T16:00:00+00:00"}),
    # a reminder asked for as not forgetting
    ("Make sure I remember to water the plants at 6 pm", "reminder.set", {"text": "water the plants"}),
    ("I mustn't forget to call grandma in an hour", "reminder.set", {"text": "call grandma"}),
    ("don't let me forget about the dentist tomorrow at 9", "reminder.set", {"text": "the dentist"}),
    # the time, date and day with the question word last, a reason after, days counted
    ("Today is what day?", "clock.weekday", {}),
    ("It's which date today?", "clock.date", {}),
    ("which day's today", "clock.weekday", {}),
    ("What time is it please, my tea is getting cold", "clock.time", {}),
    ("how many more sleeps until christmas", "clock.days_until", {"date": "2026-12-25"}),
    ("Count down the days till new year's day", "clock.days_until", {"date": "2027-01-01"}),
    ("how many days are left until the 1st of january", "clock.days_until", {"date": "2027-01-01"}),
    ("which day will it be on the 4th of january", "clock.date_of", {"date": "2027-01-04"}),
    ("What date will it be in ten days?", "clock.date_of", {"date": "2026-12-11"}),
    # never mind, help, volume with a reason, sums with money
    ("No worries, I'll sort it out myself", "device.cancel", {}),
    ("don't bother about it", "device.cancel", {}),
    ("That's all, thanks", "device.cancel", {}),
    ("What kinds of things can you help with?", "help", {}),
    ("what sort of questions can I ask", "help", {}),
    ("Louder please, I'm in the kitchen", "device.volume_up", {}),
    ("turn it down a bit, I'm on the phone", "device.volume_down", {}),
    ("What's fifteen percent of 80 dollars?", "calc", {"value": 12.0}),
    # lists: ticked off, the item said first then taken off, the list said first, "u"
    ("cross off buy stamps on the to do list", "list.remove", {"list": "to-do", "items": ["buy stamps"]}),
    ("The milk's bought, cross it off the shopping list", "list.remove", {"list": "shopping", "items": ["milk"]}),
    ("We've got the batteries, take them off my shopping list", "list.remove", {"items": ["batteries"]}),
    ("On my shopping list, put oat milk", "list.add", {"list": "shopping", "items": ["oat milk"]}),
    ("to the to do list add book the garage", "list.add", {"list": "to-do", "items": ["book the garage"]}),
    ("could u put apples on the shopping list", "list.add", {"list": "shopping", "items": ["apples"]}),
    ("Mark renew the passport as done", "list.remove", {"list": "to-do", "items": ["renew the passport"]}),
    ("dont let me forget the recycling tonight", "reminder.set", {"text": "the recycling"}),
    # rooms told something with its subject first; the whole house said to
    ("Tell the den we're eating now", "rooms.broadcast", {"area": "den", "text": "we're eating now"}),
    ("Say to everyone the car is here", "rooms.broadcast", {"area": "", "text": "the car is here"}),
    # home: start and stop a device, a wish for a state, the room's light, "on or off", everything in a room
    ("start the attic fan", "home.on", {"devices": "attic fan"}),
    ("Stop the extractor fan", "home.off", {"devices": "extractor fan"}),
    ("I want the hall lamp on", "home.on", {"devices": "hall lamp"}),
    ("we need the ceiling light off", "home.off", {"devices": "ceiling light"}),
    ("make it dark in the kitchen", "home.off", {"devices": "ceiling light|stove light"}),
    ("Is the attic fan on or off?", "home.state", {"devices": "attic fan"}),
    ("turn everything off in the kitchen", "home.off", {"devices": "ceiling light|extractor fan|radio|stove light"}),
]


@pytest.mark.parametrize(("text", "name", "values"), FAMILIES)
def test_a_family_reaches_its_intent_with_its_values(
    house: Household, text: str, name: str, values: dict[str, Any]
) -> None:
    intent = house.first(text)
    assert intent is not None, text
    assert intent.name == name, (text, intent.name, intent.data)
    assert {key: intent.data.get(key) for key in values} == values


TALK = [
    "my brother started a timer and left",
    "she set an alarm and overslept",
    "I never use a timer for rice",
    "the volume on my phone is broken",
    "remind me, how tall is everest",
    "how long do I boil an egg for",
    "is the pizza place open until ten",
    "when was the kitchen timer invented",
    "start the meeting without me",
    "tell the kitchen light to switch off and on again",
    "what time is it in tokyo",
    "pause the pasta recipe video",
    "the eggs in the fridge are old",
]


CLAIMED = ("timer.start", "alarm.set", "reminder.set", "rooms.broadcast", "device.volume_set", "timer.remaining")
CLAIMED += ("clock.time", "home.on", "home.off")


@pytest.mark.parametrize("text", TALK)
def test_the_new_families_leave_talk_alone(house: Household, text: str) -> None:
    intent = house.first(text)
    assert intent is None or intent.name not in CLAIMED, (text, intent)


def test_a_timer_asked_by_another_number_gets_the_running_ones_name(house: Household) -> None:
    assert forms("egg") == {"egg", "eggs"}
    assert "potato" in forms("potatoes")
    assert running_name(house.skills, "eggs") == "egg"
    assert running_name(house.skills, "bread") == "bread"  # none running: kept as said
    assert mentioned(house.skills, "are the eggs done") == "egg"
    assert mentioned(house.skills, "is the pasta or the laundry done") == ""  # two: not guessed


def test_a_timers_name_leaves_the_joining_words_behind() -> None:
    assert name_before(["a", "timer", "for", "the", "chicken", "and"], "timer") == "chicken"
