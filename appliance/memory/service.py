"""The memory as the rest of the appliance sees it: remember, recall, forget, record, build the context.

:class:`Memory` owns the store, the vector index, the embedder and the
emotion analyzer.  Its :meth:`messages` has the shape of
``Conversation.messages`` so the pipeline uses it unchanged; the reply path
calls it on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.core.events import EmotionDetected, Event
from appliance.core.feature import ContextProvider
from appliance.engines.embedding import MiniLmEmbedder
from appliance.engines.emotion import Emotion, EmotionAnalyzer
from appliance.engines.llm.local import Message
from appliance.engines.prosody import Prosody, analyze
from appliance.memory import records
from appliance.memory.answer import fact_answer
from appliance.memory.context import ContextInput, build_messages, situation_notes
from appliance.memory.records import TurnRow
from appliance.memory.retrieval import (
    Hit,
    Retriever,
    VectorIndex,
    select,
)
from appliance.memory.store import MemoryStore
from appliance.settings import LlmSettings, MemorySettings
from appliance.voice.conversation import Conversation, notes_opening, provided_facts

_LOGGER = logging.getLogger(__name__)

FORGET_MIN_SIMILARITY = 0.45
"""A fact must be at least this close in meaning to a "forget …" request to be forgotten."""
FORGET_MARGIN = 0.08
"""…and within this of the closest fact (so "forget my dentist appointment" spares the doctor's)."""
ECHO_SIMILARITY = 0.6
"""Turns this close to a forgotten fact are forgotten with it (as are the turns quoting it: :mod:`.quotes`)."""
NOT_RECORDED_INTENTS = frozenset({"memory.forget", "memory.forget_today"})


@dataclass
class Clock:
    """Wall time, replaceable in tests."""

    now: Callable[[], float] = time.time


class Memory:
    """Store + retrieval + emotion + context; one per appliance."""

    def __init__(
        self,
        settings: MemorySettings,
        llm_settings: LlmSettings,
        store: MemoryStore,
        embedder: MiniLmEmbedder,
        count_tokens: Callable[[str], int],
        *,
        emotion: EmotionAnalyzer | None = None,
        publish: Callable[[Event], None] = lambda event: None,
        clock: Clock | None = None,
        context: list[ContextProvider] | None = None,
    ) -> None:
        self.settings = settings
        self.llm_settings = llm_settings
        self.system_prompt = llm_settings.system_prompt
        self.store = store
        self.embedder = embedder
        self.count_tokens = count_tokens
        self.publish = publish
        self.clock = clock or Clock()
        self.index = VectorIndex()
        self.retriever = Retriever(store.reader, embedder.embed, self.index, clock=self.clock.now)
        self.emotion = emotion if settings.emotion else None
        self.conversation = Conversation(
            "", max_turns=llm_settings.history_turns, timeout_s=llm_settings.history_timeout_s, context=context
        )
        self.context = self.conversation.context
        """The context providers (vision's room sentence, …): the list the app shares with the plain conversation."""
        self._prosody_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prosody")
        self._prosody: concurrent.futures.Future[Prosody | None] | None = None
        self._emotions: dict[str, Emotion] = {}
        self._pending_facts: list[int] = []
        self._not_recorded: set[str] = set()
        self._found: tuple[str, list[Hit]] | None = None
        """(request, hits) of the last :meth:`answer` that found no fact, for the :meth:`messages` after it."""
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------
    def open(self) -> None:
        """Open the store (checking it) and load the vectors; blocking: call it off the loop."""
        self.store.open()
        loaded = self.index.load(self.store.reader())
        _LOGGER.info("Memory open: %s, %d vectors", self.store.path, loaded)

    def close(self) -> None:
        self._prosody_pool.shutdown(wait=True)
        self.retriever.close()
        self.store.close()

    # -- the Conversation interface the pipeline uses ------------------------------
    def messages(self, request: str, *, now: float | None = None) -> list[Message]:
        """System prompt + what is relevant + the running conversation + the request, within the budget."""
        now = self.clock.now() if now is None else now
        found, self._found = self._found, None
        if found is not None and found[0] == request:
            hits = found[1]  # :meth:`answer` just searched for this request
        else:
            hits = self.relevant(request) if self.settings.memories else []
        emotion = self.emotion_of(request, self._prosody)
        ctx = ContextInput(
            system_prompt=self.system_prompt,
            request=request,
            now=dt.datetime.fromtimestamp(now),
            memories=hits,
            recent=self.conversation.recent(now=now),
            emotion=emotion,
            facts=provided_facts(self.context),
            day_note=self.settings.day_note,
        )
        return build_messages(ctx, self.count_tokens, self.budget, self.memory_budget)

    def answer(self, request: str) -> str | None:
        """The remembered fact that answers ``request`` word for word, said back (see
        :mod:`.answer`), or None for the LLM; the hits are kept for :meth:`messages`."""
        if not (self.settings.answer_facts and self.settings.memories):
            return None
        hits = self.relevant(request)
        self._found = (request, hits)
        return fact_answer(request, hits)

    def user_opening(self, *, now: float | None = None) -> str:
        """The next user message's start before the request is known: the notes on the day and the
        context providers' facts (the mood and the memories depend on the request), for prefilling."""
        now = self.clock.now() if now is None else now
        day = dt.datetime.fromtimestamp(now) if self.settings.day_note else None
        return notes_opening(situation_notes(day, provided_facts(self.context)))

    def prefix_messages(self, *, now: float | None = None) -> list[Message]:
        """What the next prompt starts with (system prompt and the exchanges), for prefilling the LLM.

        The budget may still drop an old exchange once the memories are known;
        the LLM then cuts it out of its cache instead of evaluating again.
        """
        now = self.clock.now() if now is None else now
        out: list[Message] = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        for exchange in self.conversation.recent(now=now):
            out.append({"role": "user", "content": exchange.user})
            out.append({"role": "assistant", "content": exchange.assistant})
        return out

    @property
    def memory_budget(self) -> int | None:
        """Tokens the memories may take (None: only the whole prompt's budget limits them)."""
        return self.settings.memory_tokens or None

    @property
    def budget(self) -> int:
        s = self.llm_settings
        return self.settings.context_tokens or max(s.n_ctx - s.max_tokens - 16, 64)

    def add(self, user: str, assistant: str, *, now: float | None = None) -> None:
        if user not in self._not_recorded:
            self.conversation.add(user, assistant, now=now)

    def recent(self, *, now: float | None = None) -> list[Any]:
        return self.conversation.recent(now=now)

    def clear(self) -> None:
        self.conversation.clear()

    # -- retrieval and emotion ----------------------------------------------------
    def relevant(self, request: str) -> list[Hit]:
        s = self.settings
        return select(
            self.retriever.search(request, limit=s.memories * 3),
            lambda hit: self.index.vector(hit.kind, hit.ref),
            limit=s.memories,
            min_similarity=s.min_similarity,
            relative=s.relative_score,
            duplicate=s.duplicate_similarity,
        )

    def search(self, query: str, *, limit: int = 10, kinds: tuple[str, ...] = records.KINDS) -> list[Hit]:
        return self.retriever.search(query, limit=limit, kinds=kinds)

    def observe_utterance(self, audio: np.ndarray) -> None:
        """The request's audio (called on the loop when transcription starts): prosody runs beside STT."""
        if self.emotion is not None:
            self._prosody = self._prosody_pool.submit(analyze, audio)

    def emotion_of(
        self, text: str, prosody_future: concurrent.futures.Future[Prosody | None] | None = None
    ) -> Emotion | None:
        """The emotion of the current request (cached: the turn record reuses it)."""
        if self.emotion is None or not text:
            return None
        with self._lock:
            cached = self._emotions.get(text)
        if cached is not None:
            return cached
        prosody = _result(prosody_future)
        emotion = self.emotion.analyze(text, self.embedder.embed(text), prosody)
        with self._lock:
            self._emotions = {text: emotion}
        return emotion

    def on_event(self, event: Event) -> None:
        """A bus event: the configured ones are recorded (the prompt's facts come from :attr:`context`)."""
        data = event.as_dict()
        if data.get("stage") == "memory":
            return  # the memory's own failures: recording them could feed a failing store forever
        if event.name in self.settings.record_events:
            kind = "home" if event.name.startswith("intent") else "vision" if event.name in VISION else "system"
            text = describe_event(event.name, data)
            self.store.submit(lambda c: records.insert_event(c, event.ts, kind, event.name, text, data))

    # -- recording turns (off the hot path) -----------------------------------------
    def record_turn(self, row: TurnRow, turn_id: int = 0) -> concurrent.futures.Future[int] | None:
        """Queue a finished turn; embedding, emotion and the write happen on the writer thread."""
        if not row.user_text or row.intent in NOT_RECORDED_INTENTS or row.user_text in self._not_recorded:
            self._not_recorded.discard(row.user_text)
            return None
        facts, self._pending_facts = self._pending_facts, []
        prosody_future, self._prosody = self._prosody, None

        def job(conn: Any) -> int:
            vector = self.embedder.embed(row.user_text)
            emotion = self.emotion_of(row.user_text, prosody_future)
            final = row
            if emotion is not None:
                final = _with_emotion(row, emotion, _result(prosody_future))
            ref = records.insert_turn(conn, final, vector, self.embedder.name)
            records.link_facts(conn, facts, ref)
            self.index.add("turn", ref, vector)
            if emotion is not None:
                self.publish(
                    EmotionDetected(
                        label=emotion.label,
                        score=round(emotion.score, 3),
                        valence=round(emotion.valence, 3),
                        arousal=emotion.arousal,
                        turn_id=turn_id,
                        text=row.user_text,
                    )
                )
            return ref

        return self.store.submit(job)

    # -- remembering and forgetting ------------------------------------------------
    async def remember(self, text: str) -> int:
        """Store a fact durably (synchronous=FULL); returns its id once it is on disk."""
        vector = await asyncio.to_thread(self.embedder.embed, text)
        created = self.clock.now()
        future = self.store.submit(
            lambda c: records.insert_fact(c, text, created, vector, self.embedder.name), durable=True
        )
        fact_id = await asyncio.wrap_future(future)
        self.index.add("fact", fact_id, vector)
        self._pending_facts.append(fact_id)
        return fact_id

    def forget_matches(self, query: str) -> list[tuple[str, int, str]]:
        """What "forget <query>" chooses: the closest facts and the turns that echo them in meaning
        (:meth:`forget` adds, on the writer, the turns and events that quote those facts)."""
        vector = self.embedder.embed(query)
        facts = [h for h in self.retriever.search(query, limit=20, kinds=("fact",)) if h.semantic > 0]
        best = max((h.semantic for h in facts), default=0.0)
        chosen = [h for h in facts if h.semantic >= max(FORGET_MIN_SIMILARITY, best - FORGET_MARGIN)]
        items = {("fact", h.ref): h.text for h in chosen}
        probes = [self.index.vector("fact", h.ref) for h in chosen] or [vector]
        threshold = ECHO_SIMILARITY if chosen else max(FORGET_MIN_SIMILARITY, best)
        for probe in probes:
            if probe is None:
                continue
            for kind, ref, sim in self.index.search(probe, 50):
                if kind == "turn" and sim >= threshold:
                    items[(kind, ref)] = ""
        return [(k, r, t) for (k, r), t in items.items()]

    async def forget(self, query: str, *, request: str = "") -> list[tuple[str, int, str]]:
        """Delete what matches ``query`` and whatever quotes it; the running conversation is cleared too."""
        if request:
            self._not_recorded.add(request)
        chosen = await asyncio.to_thread(self.forget_matches, query)
        texts = {(k, r): t for k, r, t in chosen}
        gone = await self.forget_items(list(texts)) if chosen else []
        self.conversation.clear()
        return [(k, r, texts.get((k, r), "")) for k, r in gone]

    async def forget_items(self, items: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Delete ``items`` (kind, id), with every turn and event quoting a fact among them; then
        :meth:`scrub`.  Returns what was deleted."""

        def job(conn: Any) -> list[tuple[str, int]]:
            return [item for item in records.with_quotes(conn, items) if records.delete_items(conn, [item])]

        gone = await asyncio.wrap_future(self.store.submit(job))
        for kind, ref in gone:
            self.index.remove(kind, ref)
        await self.scrub()
        return gone

    async def scrub(self) -> None:
        """After a delete: no copy of the deleted text in RAM here or in memory.db, -wal and -shm."""
        self._found = None
        with self._lock:
            self._emotions = {}
        await asyncio.wrap_future(self.store.scrub())

    async def forget_since(self, since: float, *, request: str = "") -> dict[str, int]:
        """Delete every turn, fact and event recorded since ``since`` (Unix seconds)."""
        if request:
            self._not_recorded.add(request)
        counts = await asyncio.wrap_future(self.store.submit(lambda c: records.delete_since(c, since)))
        await asyncio.to_thread(self.reload_index)
        await self.scrub()
        self.conversation.clear()
        return counts

    def reload_index(self) -> None:
        self.index.clear()
        self.index.load(self.store.reader())

    async def prune(self) -> dict[str, int]:
        """Retention: drop turns and events older than ``retention_days``."""
        days = self.settings.retention_days
        if not days:
            return {"turn": 0, "event": 0}
        before = self.clock.now() - days * 86400.0
        counts = await asyncio.wrap_future(self.store.submit(lambda c: records.prune(c, before)))
        if counts["turn"]:
            await asyncio.to_thread(self.reload_index)
        if any(counts.values()):
            await asyncio.wrap_future(self.store.scrub())
        return counts


VISION = frozenset({"presence", "faces", "camera"})


def describe_event(name: str, data: dict[str, Any]) -> str:
    """A line of text for search: the event name and its fields."""
    fields = ", ".join(f"{k} {v}" for k, v in data.items() if k not in ("event", "ts") and v not in (None, "", {}))
    return f"{name.replace('_', ' ')}: {fields}"


def _result(future: concurrent.futures.Future[Prosody | None] | None) -> Prosody | None:
    """The utterance's prosody, waiting briefly (it runs beside speech-to-text and is usually done)."""
    if future is None:
        return None
    try:
        return future.result(timeout=1.0)
    except (concurrent.futures.TimeoutError, ValueError) as err:
        _LOGGER.debug("No prosody for this request: %s", err)
        return None


def _with_emotion(row: TurnRow, emotion: Emotion, prosody: Prosody | None) -> TurnRow:
    from dataclasses import replace

    return replace(
        row,
        emotion=emotion.label,
        emotion_score=round(emotion.score, 3),
        prosody=prosody.as_dict() if prosody is not None else row.prosody,
    )
