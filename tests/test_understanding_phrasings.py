"""Families of everyday phrasings through the sentences, then the skills' rules (as a turn tries them).

Every sentence here was written for this test: none is taken from the labelled set, the semantic
layer's examples or another assistant's tests.  Each family is said several ways, and a few
near misses check that a family's words alone do not claim talk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.skills.intents import SkillIntents
from appliance.skills.phrasing import clean
from appliance.understanding.mapping import Ports
from appliance.voice.reply import Intent

from .test_understanding_sentences import Rig


class Chain(Rig):
    """The sentence matcher first, then the skills' own rules, with the rooms' broadcast hook."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.ports = Ports(skills=self.context, home=self.home, broadcast=self.tell)
        self.matcher.ports = self.ports
        self.rules = SkillIntents(self.context)

    def first(self, text: str) -> Intent | None:
        return self.matcher.match(text) or self.rules.match(text)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    made = Chain(tmp_path)
    yield made
    made.skills.close()


PHRASINGS: list[tuple[str, str, dict[str, Any]]] = [
    # the time, the date and the day, said loosely or misheard
    ("Check the time please", "clock.time", {}),
    ("Have you got the time on you?", "clock.time", {}),
    ("Could you remind me what time it is?", "clock.time", {}),
    ("What o'clock is it now?", "clock.time", {}),
    ("what's the thyme now", "clock.time", {}),
    ("Do you know the date today?", "clock.date", {}),
    ("Remind me what the date is.", "clock.date", {}),
    ("what's the date then", "clock.date", {}),
    ("Remind me which day we're on.", "clock.weekday", {}),
    ("What day is it again?", "clock.weekday", {}),
    ("What day are we today?", "clock.weekday", {}),
    ("Sleeps till Christmas?", "clock.days_until", {"date": "2026-12-25"}),
    ("days left until new year's day", "clock.days_until", {"date": "2027-01-01"}),
    # time added to or taken off a running timer, not a new timer
    ("Give my timer two more minutes.", "timer.add", {"duration_s": 120}),
    ("Add five extra minutes to the timer", "timer.add", {"duration_s": 300}),
    ("Lengthen the timer by ten minutes", "timer.add", {"duration_s": 600}),
    ("three more minutes on the pasta timer", "timer.add", {"duration_s": 180, "name": "pasta"}),
    ("Give the timer an extra 45 seconds", "timer.add", {"duration_s": 45}),
    ("at 30 seconds to the timer", "timer.add", {"duration_s": 30}),
    ("Shorten the timer by two minutes", "timer.remove", {"duration_s": 120}),
    ("make my timer ten minutes shorter", "timer.remove", {"duration_s": 600}),
    ("make the timer a minute longer", "timer.add", {"duration_s": 60}),
    ("give it another minute on the timer", "timer.add", {"duration_s": 60}),
    ("is my timer still going?", "timer.remaining", {}),
    ("Cut the timer down by 30 seconds", "timer.remove", {"duration_s": 30}),
    ("trim a minute off my timer", "timer.remove", {"duration_s": 60}),
    ("set another timer for 4 minutes", "timer.start", {"duration_s": 240}),
    ("Put a timer on for twenty minutes", "timer.start", {"duration_s": 1200}),
    ("add a timer for 5 minutes", "timer.start", {"duration_s": 300}),
    ("How much longer on the timer?", "timer.remaining", {}),
    ("how many more seconds are left on the timer", "timer.remaining", {}),
    ("how many timers are running", "timers.list", {}),
    ("We don't need that timer any more.", "timer.cancel", {}),
    ("I no longer need the timer", "timer.cancel", {}),
    ("Cancelled my timer", "timer.cancel", {}),
    ("paws my timer", "timer.pause", {}),
    # volume said loosely
    ("Put the sound on full", "device.volume_set", {"level": 100}),
    ("volume at maximum please", "device.volume_set", {"level": 100}),
    ("Turn the sound to halfway", "device.volume_set", {"level": 50}),
    ("half volume", "device.volume_set", {"level": 50}),
    ("put the volume at 30", "device.volume_set", {"level": 30}),
    ("set the volume too 8", "device.volume_set", {"level": 80}),
    ("Turn it up a little", "device.volume_up", {}),
    ("I cannot hear you very well", "device.volume_up", {}),
    ("louder still", "device.volume_up", {}),
    ("turn the music down a touch", "device.volume_down", {}),
    ("Not so loud!", "device.volume_down", {}),
    ("less volume", "device.volume_down", {}),
    # playback, never mind, repeat
    ("Go on playing", "media.resume", {}),
    ("continue with the song", "media.resume", {}),
    ("start playing again", "media.resume", {}),
    ("back one song", "media.previous", {}),
    ("the previous one please", "media.previous", {}),
    ("Give me a quick time check", "clock.time", {}),
    ("Nah, forget it.", "device.cancel", {}),
    ("Actually, never mind.", "device.cancel", {}),
    ("No, cancel that.", "device.cancel", {}),
    ("Never mind, I'll sort it myself.", "device.cancel", {}),
    ("Excuse me, what did you say?", "device.repeat", {}),
    ("shh", "device.stop", {}),
    ("how can you help me", "help", {}),
    ("tick off pay rent from my to do list", "list.remove", {"list": "to-do", "items": ["pay rent"]}),
    ("Sorry, say that again?", "device.repeat", {}),
    ("what did you just say", "device.repeat", {}),
    ("Any idea what time it is?", "clock.time", {}),
    # lists: emptied, the item said first, a missing item, a misheard "add"
    ("Wipe everything off my to do list", "list.clear", {"list": "to-do"}),
    ("take everything off the grocery list", "list.clear", {"list": "shopping"}),
    ("Clear all the items from the shopping list", "list.clear", {"list": "shopping"}),
    ("We're out of coffee, put it on the shopping list.", "list.add", {"list": "shopping", "items": ["coffee"]}),
    ("I need batteries, add them to my shopping list", "list.add", {"list": "shopping", "items": ["batteries"]}),
    ("We've run out of salt, pop it on the list", "list.add", {"list": "shopping", "items": ["salt"]}),
    ("sound all the way up", "device.volume_set", {"level": 100}),
    ("put something on the to do list", "list.add", {"error": "items"}),
    ("at bread to my shopping list", "list.add", {"list": "shopping", "items": ["bread"]}),
    # a reminder with its time said first
    ("In an hour, remind me to check the oven.", "reminder.set", {"text": "check the oven"}),
    # a room of this home told something
    ("Let the den know the film is starting", "rooms.broadcast", {"area": "den", "text": "the film is starting"}),
    ("Announce in the kitchen that tea is ready", "rooms.broadcast", {"area": "kitchen", "text": "tea is ready"}),
    ("tell the attic that the fan is noisy", "rooms.broadcast", {"area": "attic", "text": "the fan is noisy"}),
    # a new timer's name said with "for the", its length after it
    ("set a timer for the cake for 40 minutes", "timer.start", {"duration_s": 2400, "name": "cake"}),
]


@pytest.mark.parametrize(("text", "name", "values"), PHRASINGS)
def test_a_phrasing_family_reaches_its_intent_with_its_values(
    chain: Chain, text: str, name: str, values: dict[str, Any]
) -> None:
    intent = chain.first(text)
    assert intent is not None, text
    assert intent.name == name, (text, intent.name, intent.data)
    assert {key: intent.data.get(key) for key in values} == values


TALK = [
    "the timer on the oven needs more batteries",
    "I cancelled the timer yesterday and the cake burnt",
    "we need more time to think about it",
    "tell me a story about a dragon",
    "my grandmother couldn't hear very well",
    "the hallway is a mess after the party",
    "at least the shopping list is short",
    "never mind the weather, it was lovely anyway",
    "keep calm and carry on",
    "is thyme good in soup",
    "maybe we should get a kitchen timer",
]


@pytest.mark.parametrize("text", TALK)
def test_the_families_leave_talk_alone(chain: Chain, text: str) -> None:
    assert chain.first(text) is None, text


def test_a_room_told_to_do_something_is_not_a_broadcast(chain: Chain) -> None:
    intent = chain.first("tell the kitchen light to switch off")
    assert intent is None or intent.name != "rooms.broadcast"


@pytest.mark.parametrize(
    ("said", "cleaned"),
    [
        ("Paws the radio.", "pause the radio"),
        ("Turn the volume too 40.", "turn the volume to 40"),
        ("At oats to the shopping list.", "add oats to the shopping list"),
        ("Meet me at the station at six.", "meet me at the station at six"),
        ("Sorry, what's the date then?", "what's the date"),
        ("Add thyme to the shopping list.", "add thyme to the shopping list"),
    ],
)
def test_clean_mends_whispers_usual_mishearings_only_where_the_request_says_which(said: str, cleaned: str) -> None:
    assert clean(said) == cleaned
