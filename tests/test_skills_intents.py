"""Skill intents: what they recognise, what they leave to the LLM, and that they act only when committed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.skills.engine import Skills
from appliance.skills.intents import SkillIntents
from appliance.skills.settings import SkillsSettings
from appliance.skills.store import FILENAME, SkillStore
from appliance.skills.voice import NOT_HOW_LONG, SkillContext

from .test_skills_schedule import LONDON, NOW


class FakeDevice:
    def __init__(self) -> None:
        self.level = 50
        self.stopped = 0

    def volume(self) -> int:
        return self.level

    def set_volume(self, level: int) -> None:
        self.level = level

    async def stop(self) -> bool:
        self.stopped += 1
        return True

    def last_reply(self) -> str:
        return "It's 8:31 pm."


class Rig:
    def __init__(self, path: Path, *, clock_24h: bool = False) -> None:
        self.clock = [NOW]
        self.skills = Skills(SkillStore(path / FILENAME), tz=LONDON, now=lambda: self.clock[0]).open()
        self.device = FakeDevice()
        self.rang_off = 0
        self.context = SkillContext(
            self.skills, SkillsSettings(clock_24h=clock_24h), self.device, stop_ringing=self._stop_ringing
        )
        self.intents = SkillIntents(self.context)

    async def _stop_ringing(self) -> bool:
        rang = bool(self.skills.ringing())
        for item in self.skills.ringing():
            self.skills.finish(item)
        self.rang_off += rang
        return rang

    def say(self, text: str) -> str:
        intent = self.intents.match(text)
        assert intent is not None, text
        spoken = asyncio.run(asyncio.wait_for(intent.action(), 10)) if intent.action else None
        return spoken or intent.speech


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.skills.close()


LEFT_ALONE = [
    "what is the capital of France",
    "turn on the kitchen light",
    "turn off the living room lights",
    "set the bedroom light to 50 percent",
    "dim the hallway lights",
    "remember that my keys are in the drawer",
    "what do you remember about my keys",
    "forget what I told you about the dentist",
    "remind me what I told you about the party",
    "what did I tell you about the dentist",
    "tell me a joke",
    "what's the weather like tomorrow",
    "who wrote Hamlet",
    "why is the sky blue",
    "how do I boil an egg",
    "what is love",
    "play some music",
    "open the garage door",
    "is the front door locked",
    "how are you",
    "what's your name",
    "how far is the moon",
    "what time does the bakery open",
    "how many people live in Paris",
    "write me a poem about timers",
    "what is a timer",
    "what's an alarm clock",
    "turn the heating up to 21 degrees",
    "set the thermostat to 20",
    "good morning",
    "thank you",
    "",
]


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_llm_home_and_memory_requests_are_left_alone(rig: Rig, text: str) -> None:
    assert rig.intents.match(text) is None


def test_matching_changes_nothing_until_the_action_runs(rig: Rig) -> None:
    for text in (
        "set a timer for ten minutes",
        "wake me up at seven",
        "add eggs to the shopping list",
        "remind me to call mum in an hour",
        "volume up",
        "cancel all timers",
    ):
        intent = rig.intents.match(text)
        assert intent is not None and intent.action is not None
    assert rig.skills.list_timers() == [] and rig.skills.list_show("shopping") == [] and rig.device.level == 50


def test_the_issue_examples(rig: Rig) -> None:
    assert rig.say("Set a timer for ten minutes.") == "Timer set for 10 minutes."
    assert rig.skills.list_timers()[0]["remaining_s"] == 600
    assert rig.say("What is seven times eight?") == "Seven times eight is 56."
    assert rig.say("What day is it today?") == "It's Tuesday."
    assert rig.say("Wake me up at seven tomorrow.") == "Alarm set for tomorrow at 7:00 am."
    alarm = rig.skills.list_timers()[1]
    assert alarm["kind"] == "alarm" and alarm["due"] == dt.datetime(2026, 12, 2, 7, tzinfo=LONDON).timestamp()


def test_timer_conversation(rig: Rig) -> None:
    assert rig.say("set a pasta timer for 12 minutes") == "Pasta timer set for 12 minutes."
    assert rig.say("start an eggs timer for four and a half minutes") == "Eggs timer set for 4 minutes and 30 seconds."
    rig.clock[0] += 60
    assert rig.say("how long is left on the pasta timer") == "11 minutes left on the pasta timer."
    assert rig.say("pause the pasta timer") == "Paused the pasta timer."
    rig.clock[0] += 600
    assert rig.say("how long is left on the pasta timer?") == "11 minutes left on the pasta timer, paused."
    assert rig.say("resume the pasta timer") == "Resumed the pasta timer."
    assert rig.say("add two minutes to the pasta timer") == "Added 2 minutes to the pasta timer; 13 minutes left."
    assert rig.say("cancel the timer") == "You have 2 timers. Which one?"
    assert rig.say("cancel the eggs timer") == "Cancelled the eggs timer."
    assert rig.say("what timers do I have") == "You have 1 timer: pasta timer with 13 minutes left."
    assert rig.say("cancel all timers") == "Cancelled the pasta timer."
    assert rig.say("how long is left on my timer") == "You don't have any timers."


@pytest.mark.parametrize(
    ("text", "speech"),
    [
        ("a timer for five blargs", NOT_HOW_LONG),
        ("set a timer", NOT_HOW_LONG),
        ("set a timer for a while", NOT_HOW_LONG),
        ("set a timer for minus five minutes", "A timer can't be negative. Timers can be from 1 second to 24 hours."),
        ("set a timer for 400 days", "That's too long. Timers can be from 1 second to 24 hours."),
        ("set an alarm", "I didn't catch what time."),
        ("remind me to feed the cat", "I didn't catch when."),
        ("set an alarm for the 3rd of december next year", "I didn't catch what time."),
    ],
)
def test_recognised_but_not_completable_is_answered_not_passed_on(rig: Rig, text: str, speech: str) -> None:
    assert rig.say(text) == speech
    assert rig.skills.list_timers() == []


def test_twenty_first_timer_refusal_is_spoken(rig: Rig) -> None:
    for n in range(20):
        rig.skills.start_timer(60 + n)
    assert rig.say("set a timer for five minutes") == "You already have 20 timers, the most I can keep."


def test_alarm_more_than_a_year_ahead_is_refused(rig: Rig) -> None:
    assert rig.say("set an alarm in 400 days") == "That's too far ahead. Alarms can be set up to a year ahead."


def test_alarms_and_snooze(rig: Rig) -> None:
    assert rig.say("set an alarm for 6:30 every weekday") == "Alarm set for 6:30 am on weekdays."
    assert rig.say("wake me up at 8 on saturday") == "Alarm set for Saturday 5 December at 8:00 am."
    assert rig.say("set an alarm for 10 pm") == "Alarm set for 10:00 pm."
    rig.say("cancel my 10 pm alarm")
    assert rig.say("what alarms do I have") == (
        "You have 2 alarms: 6:30 am on weekdays; on Saturday 5 December at 8:00 am."
    )
    assert rig.say("snooze for five minutes") == "There's no alarm to snooze."
    due = rig.skills.due_items(dt.datetime(2026, 12, 2, 6, 30, tzinfo=LONDON).timestamp())
    rig.clock[0] = due[0].due
    rig.skills.fire(due[0])
    assert rig.say("snooze for five minutes") == "Snoozing for 5 minutes."
    assert rig.skills.list_timers()[0]["state"] == "snoozed"
    assert rig.skills.list_timers()[0]["due"] == rig.clock[0] + 300
    assert rig.say("cancel my 6:30 alarm") == "Cancelled your 6:30 am alarm."
    assert [i["kind"] for i in rig.skills.list_timers()] == ["alarm"]


def test_cancel_alarm_by_time(rig: Rig) -> None:
    rig.say("set an alarm for 7 am")
    rig.say("set an alarm for 9 am")
    assert rig.say("cancel my 7 am alarm") == "Cancelled your 7:00 am alarm."
    assert rig.say("cancel my 8 am alarm") == "You don't have an alarm at 8:00."
    assert [i["due"] for i in rig.skills.list_timers()] == [dt.datetime(2026, 12, 2, 9, tzinfo=LONDON).timestamp()]


def test_stop_the_timer_while_it_rings_silences_it(rig: Rig) -> None:
    rig.say("set a timer for 10 seconds")
    rig.clock[0] += 10
    rig.skills.fire(rig.skills.due_items(rig.clock[0])[0])
    assert rig.say("stop the timer") == "Okay."
    assert rig.rang_off == 1 and rig.skills.list_timers() == []


def test_reminders(rig: Rig) -> None:
    assert rig.say("remind me to take the bins out at seven") == (
        "Okay, I'll remind you to take the bins out tomorrow at 7:00 am."
    )
    assert rig.say("remind me in an hour to call my mum") == "Okay, I'll remind you to call your mum at 9:31 pm."
    assert rig.say("what reminders do I have") == (
        "You have 2 reminders: call your mum at 9:31 pm; take the bins out tomorrow at 7:00 am."
    )
    assert rig.say("cancel the reminder about the bins") == "Cancelled the reminder to take the bins out."


def test_lists(rig: Rig) -> None:
    assert rig.say("add eggs and butter to the shopping list") == "Added eggs and butter to your shopping list."
    assert rig.say("put milk, bread and jam on my shopping list") == "Added milk, bread and jam to your shopping list."
    assert rig.say("add eggs to the list") == "eggs is already on your shopping list."
    assert rig.say("And tea to the shopping list.") == "Added tea to your shopping list."  # Whisper's "Add"
    assert (
        rig.say("what's on my shopping list")
        == "Your shopping list has 6 things: eggs, butter, milk, bread, jam and tea."
    )
    assert rig.say("take milk off the list") == "Removed milk from your shopping list."
    assert rig.say("add call the plumber to my to do list") == "Added call the plumber to your to-do list."
    assert rig.say("clear the shopping list") == "Cleared your shopping list."
    assert rig.say("what's on the shopping list") == "Your shopping list is empty."
    assert rig.skills.list_show("to-do") == ["call the plumber"]


def test_clock_and_calendar(rig: Rig) -> None:
    assert rig.say("what time is it") == "It's 8:31 pm."
    assert rig.say("what's the date") == "Today is Tuesday 1 December 2026."
    assert rig.say("what's the date next friday") == "Next Friday is 4 December."
    assert rig.say("how many days until christmas") == "There are 24 days until Christmas."
    rig.context.settings = SkillsSettings(clock_24h=True)
    assert rig.say("what time is it") == "It's 20:31."


def test_sums_and_units(rig: Rig) -> None:
    assert rig.say("what's 15 percent of 80") == "15 percent of 80 is 12."
    assert rig.say("what is three inches in centimetres") == "Three inches is 7.62 centimetres."
    assert rig.say("what is 1 divided by 0") == "I can't divide by zero."


def test_device_by_voice(rig: Rig) -> None:
    assert rig.say("volume up") == "Volume 60 percent."
    assert rig.say("turn it down") == "Volume 50 percent."
    assert rig.say("set the volume to 30 percent") == "Volume 30 percent." and rig.device.level == 30
    assert rig.say("volume 7") == "Volume 70 percent."
    assert rig.say("set the volume to 300 percent") == "The volume goes from 0 to 100 percent."
    assert rig.say("stop") == "" and rig.device.stopped == 1
    assert rig.say("never mind") == "" and rig.device.stopped == 2
    assert rig.say("repeat that") == "It's 8:31 pm."
    assert "timers" in rig.say("what can you do?")


@pytest.mark.parametrize(
    ("text", "name", "key", "value"),
    [
        ("What is 7×8?", "calc", "value", 56.0),
        ("What's 5-3?", "calc", "value", 2.0),
        ("What is 10 ÷ 4", "calc", "value", 2.5),
        ("Set an alarm for 6.30am.", "alarm.set", "due", "2026-12-02T06:30:00+00:00"),
        ("Set a timer for 10 minutes.", "timer.start", "duration_s", 600.0),
        ("Hey Jarvis, what time is it?", "clock.time", None, None),
        ("How long is left?", "timer.remaining", None, None),
        ("Put butter, jam and bread on the shopping list.", "list.add", "items", ["butter", "jam", "bread"]),
    ],
)
def test_transcripts_as_whisper_writes_them(rig: Rig, text: str, name: str, key: str | None, value: object) -> None:
    intent = rig.intents.match(text)
    assert intent is not None and intent.name == name
    if key is not None:
        assert intent.data[key] == value
