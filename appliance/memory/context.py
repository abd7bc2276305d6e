"""The context the LLM sees: what it knows, what was just said, who is there and how they sound.

:func:`build_messages` is pure: given the pieces and a token counter (the
model's own tokenizer), it keeps the most important pieces that fit the
budget and lays them out as chat messages.  Priority: the system prompt and
the request always; then the newest exchange, retrieved memories by
relevance, and older exchanges by recency, each kept only if it fits.

Layout (see :mod:`appliance.voice.conversation`): the fixed system prompt, the
running conversation as plain request/reply pairs, then the new user message:
what changes every turn (the day, the context providers' facts, emotion,
memories) as notes one a line, and the request.  The prompt so far is then a
prefix of the next one, so the LLM's KV cache keeps it and a turn evaluates
only its own notes and request; and a remembered "ignore your instructions"
stays a line of the user's message, never a system instruction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appliance.engines.emotion import Emotion
from appliance.engines.llm.local import Message
from appliance.memory.retrieval import Hit
from appliance.voice.conversation import PAST_TURN, Exchange, note, user_turn

MESSAGE_OVERHEAD = 5
"""Tokens a chat template adds around each message (``<|im_start|>role\\n … <|im_end|>\\n``)."""
MAX_ITEM_CHARS = 300
EMOTION_MIN_SCORE = 0.5
EMOTION_HINTS = {
    "happy": "share their good mood",
    "sad": "be gentle and kind",
    "angry": "stay calm and helpful",
    "stressed": "be calm, brief and reassuring",
}


@dataclass(frozen=True)
class ContextInput:
    system_prompt: str
    request: str
    now: dt.datetime
    memories: Sequence[Hit] = ()
    """Retrieved facts, past turns and events, best first."""
    recent: Sequence[Exchange] = ()
    """The running conversation, oldest first."""
    emotion: Emotion | None = None
    facts: Sequence[str] = ()
    """The context providers' facts, e.g. vision's "Someone is in the room."."""
    day_note: bool = True
    """Say the day and part of day in the notes (``memory.day_note``)."""


def time_of_day(now: dt.datetime) -> str:
    """The day's note: a date, not a sentence to read out ("Monday 7 December 2026, morning.")."""
    part = "night"
    if 5 <= now.hour < 12:
        part = "morning"
    elif 12 <= now.hour < 17:
        part = "afternoon"
    elif 17 <= now.hour < 22:
        part = "evening"
    # No clock time: the skills tell the time exactly, and with "19:42" in the notes SmolLM2-135M
    # answered "how many months are in a year?" with "19.42", and at some minutes switched to French.
    return f"{now:%A} {now.day} {now:%B %Y}, {part}."


def age_words(seconds: float) -> str:
    if seconds < 3600:
        return "just now" if seconds < 120 else f"{int(seconds // 60)} minutes ago"
    if seconds < 86400:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours > 1 else ''} ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days > 1 else ''} ago"


def memory_line(hit: Hit, now: float) -> str:
    """One note for a retrieved memory: a fact as it was said, a past turn as what was asked (its reply is
    left out: the model gave old replies as new answers), an event with its age.  (Facts in quotes were
    recalled better, 15 of 16 against 13 of 16, but read out with the notes around them more: 32 of 76
    probe replies failed the reply check against 21.)"""
    text = hit.text if len(hit.text) <= MAX_ITEM_CHARS else hit.text[: MAX_ITEM_CHARS - 1] + "…"
    if hit.kind == "fact":
        return note(text)
    if hit.kind == "turn":
        return f"{age_words(now - hit.ts)} {PAST_TURN}{note(text.split(' — ')[0])}"
    return f"{age_words(now - hit.ts)}: {note(text)}"


def emotion_line(emotion: Emotion | None) -> str:
    if emotion is None or emotion.label == "neutral" or emotion.score < EMOTION_MIN_SCORE:
        return ""
    return f"The speaker sounds {emotion.label}; {EMOTION_HINTS[emotion.label]}."


def _said(text: str) -> str:
    """What a memory is about, for spotting repeats: a past turn's request, or the whole fact."""
    return " ".join(re.findall(r"[a-z0-9']+", text.split(" — ")[0].lower()))


def situation_notes(now: dt.datetime | None, facts: Sequence[str], emotion: Emotion | None = None) -> list[str]:
    """The notes about the moment, in order: the day (unless ``now`` is None), the context providers'
    facts, the speaker's mood."""
    day = time_of_day(now) if now is not None else ""
    return [n for n in (day, *map(note, facts), emotion_line(emotion)) if n]


def build_messages(
    ctx: ContextInput, count_tokens: Callable[[str], int], budget: int, memory_budget: int | None = None
) -> list[Message]:
    """Chat messages that fit ``budget`` tokens (by ``count_tokens``), most important pieces first.

    Memories also share at most ``memory_budget`` tokens: every one is
    evaluated afresh on every turn, so they are what a turn's first token
    waits for.  A memory that repeats the request, the running conversation or
    a better memory is left out (the old answer to "what time is it?" is no
    help now).
    """
    situation = situation_notes(ctx.now if ctx.day_note else None, ctx.facts, ctx.emotion)
    used = count_tokens(ctx.system_prompt) + count_tokens(user_turn(ctx.request, situation))
    used += 2 * MESSAGE_OVERHEAD
    now_s = ctx.now.timestamp()
    seen = {_said(e.user) for e in ctx.recent} | {_said(ctx.request)}
    memories = []
    for hit in ctx.memories:  # best first, so a repeat keeps its best-scored copy
        said = _said(hit.text)
        if said not in seen:
            seen.add(said)
            memories.append(hit)
    memory_left = budget if memory_budget is None else memory_budget
    candidates: list[tuple[float, str, object]] = []
    for age_rank, exchange in enumerate(reversed(ctx.recent)):
        candidates.append((2.0 if age_rank == 0 else 0.5 / age_rank, "recent", exchange))
    for hit in memories:
        candidates.append((hit.score, "memory", hit))
    candidates.sort(key=lambda c: c[0], reverse=True)
    kept_memories: list[Hit] = []
    kept_recent: list[Exchange] = []
    for _, kind, item in candidates:
        if kind == "memory":
            assert isinstance(item, Hit)
            cost = count_tokens(memory_line(item, now_s)) + 1  # and the space before it
            if cost > memory_left:
                continue
        else:
            assert isinstance(item, Exchange)
            cost = count_tokens(item.user) + count_tokens(item.assistant) + 2 * MESSAGE_OVERHEAD
        if used + cost > budget:
            continue
        used += cost
        if kind == "memory":
            memory_left -= cost
        (kept_memories if kind == "memory" else kept_recent).append(item)  # type: ignore[arg-type]
    out: list[Message] = [{"role": "system", "content": ctx.system_prompt}] if ctx.system_prompt else []
    for exchange in ctx.recent:
        if exchange in kept_recent:
            out.append({"role": "user", "content": exchange.user})
            out.append({"role": "assistant", "content": exchange.assistant})
    notes = situation + [memory_line(h, now_s) for h in kept_memories]
    out.append({"role": "user", "content": user_turn(ctx.request, notes)})
    return out
