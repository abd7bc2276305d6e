"""Memory by voice: "remember that …", "what do you remember about …", "forget …", "forget everything from today".

Fast local intents: matched on the transcript before the LLM, acted on only
once the request is committed, confirmed aloud.  Confirmations of a
forget never repeat what was forgotten (the running conversation must not
carry it back).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable

from appliance.memory.answer import second_person
from appliance.memory.service import Memory
from appliance.voice.reply import Intent

_END = r"[\s.!?]*$"
RECALL = re.compile(
    r"^(?:what|tell me what) (?:do you|did i tell you|you) (?:remember|know) about (?P<q>.+?)" + _END, re.I
)
RECALL_TOLD = re.compile(r"^what did i tell you about (?P<q>.+?)" + _END, re.I)
FORGET_TODAY = re.compile(r"^(?:please )?forget (?:everything|all|all of it) (?:from|since|of) today" + _END, re.I)
FORGET = re.compile(r"^(?:please )?forget (?:about )?(?P<q>.+?)" + _END, re.I)
REMEMBER = re.compile(r"^(?:please )?(?:remember|note) (?:that )?(?P<fact>.+?)" + _END, re.I)


def start_of_today(now: float) -> float:
    today = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.timestamp()


class MemoryIntents:
    """An IntentMatcher for ``Pipeline.intents``."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    def match(self, text: str) -> Intent | None:
        text = text.strip()
        for pattern, build in (
            (RECALL, self._recall),
            (RECALL_TOLD, self._recall),
            (FORGET_TODAY, self._forget_today),
            (FORGET, self._forget),
            (REMEMBER, self._remember),
        ):
            found = pattern.match(text)
            if found:
                return build(text, found)
        return None

    def _remember(self, text: str, m: re.Match[str]) -> Intent:
        fact = m["fact"].strip()
        fact = fact[:1].upper() + fact[1:]

        async def act() -> str:
            await self.memory.remember(fact)
            return f"Okay, I'll remember that {second_person(fact[:1].lower() + fact[1:])}."

        return Intent("memory.remember", "Okay.", act, {"fact": fact})

    def _recall(self, text: str, m: re.Match[str]) -> Intent:
        query = m["q"].strip()

        async def act() -> str:
            import asyncio

            hits = await asyncio.to_thread(self.memory.search, query, limit=5, kinds=("fact",))
            good = [h for h in hits if h.semantic >= self.memory.settings.min_similarity]
            if not good:
                return f"I don't remember anything about {second_person(query)}."
            told = "; and ".join(second_person(h.text.rstrip(".")) for h in good[:2])
            return f"You told me: {told}."

        return Intent("memory.recall", "Let me think.", act, {"query": query}, pure=True)

    def _forget(self, text: str, m: re.Match[str]) -> Intent:
        query = m["q"].strip()
        return Intent("memory.forget", "Okay.", self._forget_action(query, text), {"query": query})

    def _forget_action(self, query: str, text: str) -> Callable[[], Awaitable[str]]:
        async def act() -> str:
            items = await self.memory.forget(query, request=text)
            if not items:
                return f"I had nothing about {second_person(query)} to forget."
            facts = sum(1 for kind, _, _ in items if kind == "fact")
            what = f"{facts} thing{'s' if facts != 1 else ''}" if facts else "what you said"
            return f"Okay, I've forgotten {what} about {second_person(query)}."

        return act

    def _forget_today(self, text: str, m: re.Match[str]) -> Intent:
        async def act() -> str:
            await self.memory.forget_since(start_of_today(self.memory.clock.now()), request=text)
            return "Okay, I've forgotten everything from today."

        return Intent("memory.forget_today", "Okay.", act)
