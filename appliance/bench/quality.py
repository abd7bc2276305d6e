"""``appliance bench --only quality``: the household Q&A set (:mod:`appliance.bench.quality_set`), scored automatically.

Every question is asked the way the daemon asks it with memory on: the
system prompt, the item's earlier exchanges, and the new user turn with its
notes (time, the remembered facts) built by the memory's own context builder;
greedy decoding, so a run is repeatable.  An answer is right when it contains
every expected group and nothing rejected (:func:`is_right`).

The whole set is asked at four moments (:data:`MOMENTS`: mornings and evenings
of two days), because the notes carry the day and a 135M model's answers flip
with it: at one fixed evening SmolLM2-135M scored 80.7 %, at three others
76.3-78.1 %.  The score is over all four; the worst and best moment are reported beside it.

Two scores come out: ``percent`` is what a household hears, the skills first
(a sum, a unit conversion, the time: answered exactly without the LLM, as the
daemon orders them) and the LLM for the rest, through the reply check as the
daemon speaks it (``reply_check`` counts what it rewrote); ``llm_percent`` is
the LLM alone on every item, unchecked, the figure that compares models.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from appliance.bench.quality_set import CATEGORIES, ITEMS, QaItem
from appliance.memory.answer import fact_answer
from appliance.memory.context import ContextInput, build_messages
from appliance.memory.retrieval import Hit
from appliance.voice.conversation import Exchange
from appliance.voice.reply import Intent, IntentMatcher
from appliance.voice.reply_checker import ReplyChecker, checked_reply

MAX_TOKENS = 60
"""Longer than any right answer needs; the cap keeps a rambling reply from costing the whole run."""
MOMENTS = (
    dt.datetime(2026, 11, 24, 19, 42),
    dt.datetime(2026, 12, 2, 9, 0),
    dt.datetime(2026, 12, 2, 19, 0),
    dt.datetime(2026, 12, 5, 14, 0),
)
"""Fixed moments for the notes' time, so runs compare (a Tuesday evening, a Wednesday morning and
evening, a Saturday afternoon)."""
NOW = MOMENTS[0]


def _matches(alternatives: str, text: str) -> bool:
    for alt in alternatives.split("|"):
        alt = alt.strip().lower()
        stem = alt.endswith("*")
        pattern = r"(?<![\w])" + re.escape(alt.rstrip("*")) + ("" if stem else r"(?![\w])")
        if alt and re.search(pattern, text):
            return True
    return False


def is_right(item: QaItem, answer: str) -> bool:
    """Every expected group appears in ``answer`` (whole words, any case) and no rejected word does."""
    text = " ".join(answer.lower().replace("’", "'").split())
    if item.reject and _matches(item.reject, text):
        return False
    return all(_matches(group, text) for group in item.expect)


def item_messages(
    item: QaItem,
    system_prompt: str,
    count_tokens: Callable[[str], int],
    now: dt.datetime = NOW,
    *,
    day_note: bool = True,
) -> list[dict[str, str]]:
    """The prompt the daemon would build for ``item`` at ``now`` (memory on)."""
    at = now.timestamp()
    recent = [Exchange(u, a, at - 30.0) for u, a in item.history]
    ctx = ContextInput(
        system_prompt, item.question, now, memories=item_hits(item, at), recent=recent, day_note=day_note
    )
    return build_messages(ctx, count_tokens, 1500)


def item_hits(item: QaItem, at: float) -> list[Hit]:
    """``item``'s facts as the memory would retrieve them (told a day before ``at``)."""
    return [Hit("fact", i, text, at - 86400.0, 1.0, 1.0, 0.0) for i, text in enumerate(item.memories)]


def skill_answer(intents: IntentMatcher, question: str) -> str | None:
    """What the skills say to ``question`` on their own, or None when the LLM would answer it.

    Only answers that change nothing count (a sum, a conversion, the time): a
    question that would set a timer is not a question of this set.
    """
    intent: Intent | None = intents.match(question)
    if intent is None or not intent.speculative:
        return None
    if intent.action is None:
        return intent.speech
    action = intent.action

    async def said() -> str | None:
        return await action()

    return asyncio.run(said()) or intent.speech


def measure_quality(
    settings: Any, engines: Any, log: Callable[[str], None], moments: tuple[dt.datetime, ...] = MOMENTS
) -> dict[str, Any]:
    """Score every item at every moment; per-category and overall percentages, and the misses.

    The skills answer what they recognise (``percent``); the LLM is also asked
    every item (``llm_percent``), so models compare on the whole set.
    """
    from appliance.skills.evaluate import matcher

    intents = matcher()
    llm = engines.llm
    saved, llm.settings = llm.settings, replace(llm.settings, temperature=0.0, max_tokens=MAX_TOKENS)
    right: dict[str, list[bool]] = {c: [] for c in CATEGORIES}
    llm_right: dict[str, list[bool]] = {c: [] for c in CATEGORIES}
    misses, by_skills = [], 0
    per_moment: list[float] = []
    moment_start = 0
    day_note = settings.memory.day_note
    if not day_note:
        moments = moments[:1]  # without the day in the notes every moment asks the same prompts
    start = time.monotonic()
    asked = [(now, item) for now in moments for item in ITEMS]
    moment = [moments[0]]
    checker = ReplyChecker(lambda: moment[0])  # every LLM reply the daemon would speak, checked at the item's moment
    checked_right = [0, 0]  # LLM replies heard that were right before the check, and after it

    def generate(messages: list[dict[str, str]]) -> str:
        return "".join(llm.stream(messages, threading.Event())).strip()

    def written(raw: str) -> Callable[[list[dict[str, str]]], str]:
        """The first try is the answer already written; a second one (without the notes) is generated."""
        given = iter([raw])
        return lambda messages: next(given, None) or generate(messages)

    try:
        for i, (now, item) in enumerate(asked, 1):
            moment[0] = now
            messages = item_messages(item, settings.llm.system_prompt, llm.count_tokens, now, day_note=day_note)
            answer = generate(messages)
            llm_right[item.category].append(is_right(item, answer))
            skill = skill_answer(intents, item.question) if not item.history else None
            if skill is None and settings.memory.answer_facts:  # as the daemon does, before the LLM
                skill = fact_answer(item.question, item_hits(item, now.timestamp()))
            if skill is not None:
                answer, by_skills = skill, by_skills + 1
            else:
                raw, chunk = answer, settings.tts.first_chunk_chars
                answer = checked_reply(checker, item.question, messages, written(raw), chunk)
                checked_right[0] += is_right(item, raw)
                checked_right[1] += is_right(item, answer)
            ok = is_right(item, answer)
            right[item.category].append(ok)
            if not ok:
                misses.append(
                    {"at": f"{now:%a %H:%M}", "category": item.category, "question": item.question, "answer": answer}
                )
            done = sum(sum(v) for v in right.values())
            if i % len(ITEMS) == 0:  # a moment's last item
                per_moment.append(round(100.0 * (done - moment_start) / len(ITEMS), 1))
                moment_start = done
            if i % 20 == 0 or i == len(asked):
                log(f"quality {i}/{len(asked)}: {done} right so far ({time.monotonic() - start:.0f} s)")
    finally:
        llm.settings = saved
    return {
        "model": settings.llm.model,
        "items": len(ITEMS),
        "moments": [f"{m:%a %d %b %H:%M}" for m in moments],
        **_scores(right),
        "percent_per_moment": per_moment,
        "answered_by_skills": by_skills,
        "reply_check": {
            **checker.counts.as_dict(),
            "llm_right_before": checked_right[0],
            "llm_right_after": checked_right[1],
        },
        "llm": _scores(llm_right),
        "misses": misses,
    }


def _scores(right: dict[str, list[bool]]) -> dict[str, Any]:
    total = sum(len(v) for v in right.values())
    score = sum(sum(v) for v in right.values())
    return {
        "right": score,
        "percent": round(100.0 * score / total, 1) if total else None,
        "by_category": {c: round(100.0 * sum(v) / len(v), 1) for c, v in right.items() if v},
    }
