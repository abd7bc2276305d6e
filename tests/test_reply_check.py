"""The reply check: real SmolLM2 replies labelled by hand, the clock rules, and the reply path around it."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.memory.context import ContextInput, build_messages
from appliance.memory.retrieval import Hit
from appliance.voice.conversation import Conversation, Exchange, bare_prompt, prompt_parts
from appliance.voice.reply import ReplyAttempt
from appliance.voice.reply_check import CheckContext, ReplyCheck, clock_error, first_failure
from appliance.voice.reply_checker import DIDNT_CATCH, ReplyChecker

from .fakes import FakeLlm, FakeTts

DATA = Path(__file__).parent / "data"
MONDAY = dt.datetime(2026, 12, 7, 9, 10, tzinfo=dt.timezone.utc)
FIRST_CHUNK_CHARS = 24
"""``tts.first_chunk_chars``' default: the pieces are cut as the daemon cuts them."""


def labelled() -> list[dict[str, str]]:
    with open(DATA / "llm_replies.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))


def setup_check(row: dict[str, str]) -> ReplyCheck:
    setups = json.loads((DATA / "llm_replies_setups.json").read_text(encoding="utf-8"))
    s = setups[row["setup"]]
    now = dt.datetime.fromisoformat(s["now"])
    return ReplyCheck(
        CheckContext(row["request"], now, notes=s["notes"], day=s["day"], asked=s["asked"], said=s["said"])
    )


def test_the_labelled_real_replies_are_judged_as_labelled() -> None:
    rows = labelled()
    assert len(rows) >= 150 and {r["layout"] for r in rows} >= {"old", "new"}
    wrong = []
    for row in rows:
        found = first_failure(setup_check(row), row["reply"], FIRST_CHUNK_CHARS)
        verdict = "pass" if found is None else found[0]
        if verdict not in row["expect"].split("|"):
            wrong.append((row["id"], row["expect"], verdict, row["reply"][:80]))
    assert not wrong, wrong


def test_the_set_has_every_kind_of_failure_and_the_old_layout_read_its_notes_out() -> None:
    rows = labelled()
    kinds = {r["expect"].split("|")[0] for r in rows}
    assert kinds >= {"pass", "marker", "note", "earlier", "clock", "action"}
    old = [r for r in rows if r["layout"] == "old"]
    marked = [r for r in old if r["expect"] == "marker"]
    assert len(marked) >= 20  # "(Note: …": what the issue heard, from this model, in this layout
    assert sum(r["expect"] == "marker" for r in rows if r["layout"] == "new") < len(marked) / 2


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("It's a Monday morning, 5 December 2026.", "date"),  # the reply to "5 5", on 7 December
        ("It's Monday morning, 7 December 2026.", None),
        ("Monday 5 December 2026 suits me.", "weekday-of-date"),
        ("Today is Tuesday.", "weekday"),
        ("Tomorrow is Tuesday.", None),
        ("Yesterday was Saturday.", "weekday"),
        ("The date is 12 March.", "date"),
        ("Your daughter's birthday is on 12 March.", None),  # a date, but not said of today
        ("The time is 12:12:12.", "time"),
        ("It's 9:15 am.", None),
        ("Good evening!", "part-of-day"),
        ("It's 2025.", "year"),
        ("The date is 2023.", "year"),
        ("Today is a Monday in the month of July.", "month"),
        ("It's December, the best month.", None),
    ],
)
def test_the_clock_rules(text: str, error: str | None) -> None:
    assert clock_error(text, MONDAY) == error


def test_a_greeting_may_be_answered_in_kind_at_any_hour() -> None:
    evening = MONDAY.replace(hour=19)
    assert clock_error("Good morning to you too!", evening, greeted="Good morning.") is None
    assert clock_error("Good morning to you too!", evening, greeted="Hello.") == "part-of-day"


def test_a_bare_date_or_time_answers_a_question_about_now() -> None:
    assert clock_error("2026-01-12", MONDAY, asked_now=True) == "date"
    assert clock_error("Friday.", MONDAY, asked_now=True) == "weekday"
    assert clock_error("Monday.", MONDAY, asked_now=True) is None
    assert clock_error("9:12.", MONDAY, asked_now=True) is None
    assert clock_error("2026-01-12", MONDAY) is None


def test_a_note_the_request_is_about_may_be_used_and_an_unrelated_one_may_not() -> None:
    ctx = CheckContext("What's my sister called?", MONDAY, notes=["My sister is called Anna."])
    assert ReplyCheck(ctx).check("Your sister is called Anna.") is None
    ctx = CheckContext("Thank you.", MONDAY, notes=["My sister is called Anna and lives in Leeds."])
    assert ReplyCheck(ctx).check("Your sister is called Anna and lives in Leeds.") == "note"
    ctx = CheckContext("Say that again?", MONDAY, said=["The capital of Italy is Rome, a city of hills."])
    assert ReplyCheck(ctx).check("The capital of Italy is Rome, a city of hills.") is None


def test_the_days_note_answers_a_question_about_the_date_and_nothing_else() -> None:
    day = "Monday 7 December 2026, morning."
    assert ReplyCheck(CheckContext("What's the date today?", MONDAY, day=day)).check(day) is None
    assert ReplyCheck(CheckContext("Play some jazz.", MONDAY, day=day)).check(day) == "note"


def test_two_words_of_an_unrelated_note_in_a_row_are_its_own() -> None:
    ctx = CheckContext("Hello there.", MONDAY, notes=["My daughter's birthday is on 12 March."])
    assert ReplyCheck(ctx).check("I'm glad you're celebrating your daughter's birthday") == "note"
    ctx = CheckContext("Is anyone here?", MONDAY, notes=["Someone is in the room."])
    assert ReplyCheck(ctx).check("Yes, someone is here with you.") is None


def test_an_action_is_a_claim_only_when_nothing_was_done() -> None:
    ctx = CheckContext("Turn off the kitchen light.", MONDAY)
    assert ReplyCheck(ctx).check("The kitchen light is off now.") == "action"
    assert ReplyCheck(ctx).check("You can turn it off at the switch.") is None
    assert ReplyCheck(CheckContext("Turn off the kitchen light.", MONDAY, acted=True)).check("I turned it off.") is None


# -- the layout, read back -----------------------------------------------------------------------------------


def test_the_prompt_is_read_back_into_notes_asked_and_said() -> None:
    at = MONDAY.timestamp()
    ctx = ContextInput(
        "Be brief.",
        "What's the weekday?",
        MONDAY.replace(tzinfo=None),
        memories=[
            Hit("fact", 1, "My sister is called Anna.", at - 86400, 0.9, 0.9, 0.0),
            Hit("turn", 2, "Set an alarm for 7 PM — Alarm set for 7:00 PM.", at - 7200, 0.8, 0.8, 0.0),
        ],
        recent=[Exchange("What's the capital of Italy?", "Rome.", at - 60)],
        facts=["Someone is in the room."],
    )
    messages = build_messages(ctx, lambda text: len(text.split()), 1000)
    parts = prompt_parts(messages)
    assert parts.day == "Monday 7 December 2026, morning."
    assert parts.notes == ["Someone is in the room.", "My sister is called Anna."]
    assert parts.asked == ["What's the capital of Italy?", "Set an alarm for 7 PM"]
    assert parts.said == ["Rome."]  # the remembered turn's reply was never in the prompt
    assert "Alarm set" not in json.dumps(messages)
    assert bare_prompt(messages) == [messages[0], {"role": "user", "content": "What's the weekday?"}]


def test_the_plain_conversation_reads_back_too() -> None:
    chat = Conversation("S.", context=[lambda: "Someone is in the room."])
    chat.add("Hi", "Hello!")
    parts = prompt_parts(chat.messages("And you?"))
    assert (parts.notes, parts.asked, parts.said) == (["Someone is in the room."], ["Hi"], ["Hello!"])
    assert bare_prompt(Conversation("").messages("Hi")) == [{"role": "user", "content": "Hi"}]


# -- the reply path (fakes: orchestration only) --------------------------------------------------------------


class ScriptedLlm(FakeLlm):
    """Gives each call the next of ``replies``, word by word."""

    def __init__(self, *replies: str) -> None:
        super().__init__(replies[0], delay=0.005)
        self.replies = list(replies)
        self.written = 0

    def _words(self, cancel: threading.Event) -> Iterator[str]:
        self.reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        for word in super()._words(cancel):
            self.written += 1
            yield word


NOTED = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Monday 7 December 2026, morning.\nThe wifi password is on the fridge.\n\nThank you."},
]


async def reply(llm: ScriptedLlm, checker: ReplyChecker) -> tuple[ReplyAttempt, FakeTts]:
    tts = FakeTts()
    attempt = ReplyAttempt(
        llm=llm, tts=tts, messages_for=lambda _: NOTED, intents=[], first_chunk_chars=24, checker=checker
    )
    attempt.start(text="Thank you.")
    attempt.commit()
    async for _ in attempt.chunks():
        pass
    await asyncio.wait_for(attempt.finished(), 10)
    return attempt, tts


def test_a_reply_that_reads_a_note_out_is_generated_again_without_the_notes() -> None:
    checker = ReplyChecker(lambda: MONDAY)
    llm = ScriptedLlm("The wifi password is on the fridge. Anything else?", "You're welcome.")
    attempt, tts = asyncio.run(reply(llm, checker))
    assert tts.spoken == ["You're welcome."] and attempt.reply_text == "You're welcome."
    assert llm.requests[1] == [NOTED[0], {"role": "user", "content": "Thank you."}]  # the request alone
    assert attempt.marks.reply_check == "rewritten"
    assert checker.counts.as_dict() == {
        "checked": 1,
        "rewritten": 1,
        "gave_up": 0,
        "trimmed": 0,
        "reasons": {"marker": 0, "note": 1, "earlier": 0, "clock": 0, "action": 0},
    }


def test_failing_twice_says_it_did_not_catch_that() -> None:
    checker = ReplyChecker(lambda: MONDAY)
    llm = ScriptedLlm("(Note: the wifi password is on the fridge.)", "I turned on the lights for you.")
    attempt, tts = asyncio.run(reply(llm, checker))
    assert tts.spoken == [DIDNT_CATCH] and attempt.marks.reply_check == "gave-up"
    assert checker.counts.gave_up == 1 and checker.counts.reasons["marker"] == checker.counts.reasons["action"] == 1


def test_a_later_piece_that_fails_ends_the_reply_before_it() -> None:
    checker = ReplyChecker(lambda: MONDAY)
    llm = ScriptedLlm("You're very welcome. Today is Friday 4 December." + " And more words follow." * 40)
    attempt, tts = asyncio.run(reply(llm, checker))
    assert tts.spoken == ["You're very welcome."] and len(llm.requests) == 1
    assert attempt.marks.reply_check == "trimmed" and checker.counts.trimmed == 1
    assert llm.written < 40  # the model was stopped at the failing piece, not at the end of its 170 words


def test_a_sound_reply_passes_untouched_and_is_counted() -> None:
    checker = ReplyChecker(lambda: MONDAY)
    attempt, tts = asyncio.run(reply(ScriptedLlm("You're welcome. Have a nice Monday."), checker))
    assert tts.spoken == ["You're welcome.", "Have a nice Monday."] and attempt.marks.reply_check == "passed"
    assert checker.counts.checked == 1 and checker.counts.rewritten == 0
