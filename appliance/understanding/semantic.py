"""The semantic layer: a request no sentence matched, placed by its MiniLM embedding among each intent's examples.

Tried after the sentence matchers and the skill and home rules, before the LLM
(``runtime/features.py`` puts :class:`SemanticFeature` last among the intents).
It uses the memory's embedder, already loaded; without it the layer is off.

First, the form it is said in (:mod:`.semantic_form`): a why- or how-to question, a story in
the past, advice, a made-up poem is never placed; a question only on an intent asked as one (the
clock, timer status, a list, device state), a statement only when it says what it wants.
Then a request is placed in two steps. Its embedding picks a *family* (timers, the
clock, the volume, media, lists, home, or ``none``: alarms, reminders, the memory,
questions) when the best family's score clears :attr:`Calibration.threshold` and
leads the next one by :attr:`Calibration.margin`. Within the family, which sibling
(on or off, up or down, add or remove) is said by a few cue words, because a mean-pooled
embedding barely tells "turn it on" from "turn it off"; without a cue, the embedding
decides only with :attr:`Calibration.sibling_margin` to spare, otherwise the request
is asked back ("Did you mean …?"). Never a guess.

The values are then read with the skills' parsers and said back as the plain request
the rules know (:mod:`.semantic_values`); the rules build the intent, so it is exactly
theirs. A required value that is missing is asked back ("For how long?", data
``{"error": slot}``) and never reaches the LLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from appliance.core.feature import Feature
from appliance.home.devices import DeviceDirectory
from appliance.skills.phrasing import clean
from appliance.skills.voice import saying
from appliance.understanding.semantic_form import Form, imperative_verbs, sentence_form
from appliance.understanding.semantic_values import FUNCTION_WORDS, IntentText, read_values, render
from appliance.voice.reply import Intent, IntentMatcher

_LOGGER = logging.getLogger(__name__)

NONE = "none"
"""The family of requests that belong to something else (alarms, the memory, questions for the LLM)."""
AMBIGUOUS = "semantic.ambiguous"
"""The intent name of "Did you mean …?": the request was close to two intents of one family."""
MAX_CHARS = 200
"""Longer text is not a command: left to the LLM without embedding it."""
TOP_K = 2
"""An intent's score: the mean similarity of its this many nearest examples."""


class Embedder(Protocol):
    """What the layer needs of :class:`~appliance.engines.embedding.MiniLmEmbedder`."""

    name: str

    def embed(self, text: str) -> np.ndarray: ...

    def embed_batch(self, texts: list[str], batch_size: int = 64) -> np.ndarray: ...


@dataclass(frozen=True)
class Calibration:
    """Chosen on tests/data/semantic_calibration.tsv (docs/understanding.md has the figures)."""

    threshold: float = 0.55
    """Lowest cosine score of the best family."""
    margin: float = 0.03
    """How far the best family must lead the next (``none`` included)."""
    sibling_margin: float = 0.06
    """How far an intent must lead its sibling when no cue word decides; else asked back."""
    low_threshold: float = 0.43
    wide_margin: float = 0.15
    """A request whose own values dilute its score (items, devices) is placed from :attr:`low_threshold`
    when it leads the next family by this much."""

    def clear(self, score: float, margin: float, *, strict: bool = False) -> bool:
        """Is the best family's lead clear enough to act on?  ``strict`` (a question): only from
        :attr:`threshold`, since no values dilute its score as a request's items and devices do."""
        return (score >= self.threshold and margin >= self.margin) or (
            not strict and score >= self.low_threshold and margin >= self.wide_margin
        )


@dataclass(frozen=True)
class ExampleSet:
    """One language's example requests and what each intent needs to be said back."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    intents: Mapping[str, IntentText]
    families: Mapping[str, str]
    carriers: Mapping[str, frozenset[str]]
    """Each intent's own words (outside the [value] brackets, across its family): never a value."""
    verbs: frozenset[str] = frozenset()
    """The words that open the requests' examples ("stretch", "cancel"): an imperative (:mod:`.semantic_form`)."""

    def digest(self, model: str) -> str:
        """Names the embeddings of these texts by this model (the cache file)."""
        text = "\n".join(f"{label}\t{t}" for label, t in zip(self.labels, self.texts, strict=True))
        return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()[:16]


def parse_examples(text: str) -> ExampleSet:
    """Sections ``[intent]`` of example lines and their ``title:``, ``family:``, ``say:``, ``ask <slot>:``,
    ``cue:``, ``cue!:``, ``not:`` and ``form:`` lines (docs/understanding.md describes them)."""
    texts: list[str] = []
    requests: list[str] = []
    labels: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    own: dict[str, set[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.fullmatch(r"\[([\w.]+)\]", line):
            section = m[1]
            meta[section] = {"say": [], "ask": {}, "family": section.split(".")[0].rstrip("s")}
            own[section] = set()
        elif not section:
            raise ValueError(f"example outside a section: {line!r}")
        elif m := re.fullmatch(r"(title|family|say|cue!?|not|form|ask (\w+)):\s*(.+)", line):
            key, slot, value = m[1], m[2], m[3].strip()
            if slot:
                meta[section]["ask"][slot] = value
            elif key == "say":
                meta[section]["say"].append(value)
            else:
                meta[section][key] = value
        else:
            texts.append(line.replace("[", "").replace("]", ""))
            labels.append(section)
            if section != NONE:
                requests.append(line)
            own[section].update(re.sub(r"\[[^\]]*\]", " ", line.lower()).replace(",", " ").split())
    families = {name: m["family"] for name, m in meta.items()}
    intents = {
        name: IntentText(
            name,
            m.get("title", name),
            tuple(m["say"]),
            m["ask"],
            re.compile(m["cue"]) if "cue" in m else None,
            re.compile(m["cue!"]) if "cue!" in m else None,
            re.compile(m["not"]) if "not" in m else None,
            frozenset(m.get("form", "").split()),
        )
        for name, m in meta.items()
    }
    carriers = {
        name: frozenset(w for other, f in families.items() if f == families[name] for w in own[other]) for name in meta
    }
    return ExampleSet(tuple(texts), tuple(labels), intents, families, carriers, imperative_verbs(requests))


def load_examples(language: str = "en") -> ExampleSet:
    """The examples shipped for ``language`` (``examples_<language>.txt`` beside this module)."""
    return parse_examples((Path(__file__).parent / f"examples_{language}.txt").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Placement:
    """Where a request landed: one intent, two siblings to ask between, or nowhere."""

    intent: str | None = None
    asked: tuple[str, ...] = ()
    family: str = NONE
    score: float = 0.0
    """The best family's score."""
    margin: float = 0.0
    """Its lead over the next family."""


def place(
    scores: Mapping[str, float], said: str, examples: ExampleSet, cal: Calibration, form: Form | None = None
) -> Placement:
    """The decision, from each intent's score, the words said and the form they are said in (pure).

    ``form`` (by default read from ``said``): a request, or a statement that says what it wants, is placed
    as calibrated; a question only on an intent asked as one and only from the full
    :attr:`Calibration.threshold` (no values dilute it); anything else is left to the LLM
    (:mod:`.semantic_form`). Two siblings too close are asked back only from the full threshold.
    """
    form = form or sentence_form(said, examples.verbs)
    best: dict[str, float] = {}
    for name, score in scores.items():
        family = examples.families.get(name, NONE)
        best[family] = max(best.get(family, -1.0), score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if not ranked:
        return Placement()
    family, score = ranked[0]
    margin = score - (ranked[1][1] if len(ranked) > 1 else 0.0)
    left = Placement(family=family, score=score, margin=margin)
    if family == NONE or form.kind == "never" or not cal.clear(score, margin, strict=form.kind == "question"):
        return left
    siblings = sorted((n for n in scores if examples.families.get(n) == family), key=lambda n: -scores[n])
    siblings = [n for n in siblings if form.allows(examples.intents[n].forms) and _said_in(form, examples, n)]
    decisive = [n for n in siblings if (cue := examples.intents[n].decisive) is not None and cue.search(said)]
    cued = [n for n in siblings if (cue := examples.intents[n].cue) is not None and cue.search(said)]
    candidates = decisive or cued or siblings
    if not candidates:  # said as nothing this family is asked in ("timers stress me out")
        return left
    if len(candidates) == 1 or scores[candidates[0]] - scores[candidates[1]] >= cal.sibling_margin:
        exclude = examples.intents[candidates[0]].exclude
        if exclude is not None and exclude.search(said):  # about something else: "the time in Tokyo"
            return left
        return Placement(candidates[0], family=family, score=score, margin=margin)
    if score < cal.threshold:  # only a clear request is worth a question back
        return left
    return Placement(asked=(candidates[0], candidates[1]), family=family, score=score, margin=margin)


def _said_in(form: Form, examples: ExampleSet, name: str) -> bool:
    """Does the request clause carry the intent's own words (not only the talk around it)?"""
    return not form.focus or bool(form.focus & (examples.carriers[name] - FUNCTION_WORDS))


_HOME_QUESTIONS = frozenset({"home.ambiguous", "home.unknown"})


def built_as(intent: Intent, name: str) -> bool:
    """Did the rules build ``name`` from its plain request (or ask back which device)?"""
    return intent.name == name or (name.startswith("home.") and intent.name in _HOME_QUESTIONS)


class SemanticIntents:
    """The :class:`~appliance.voice.reply.IntentMatcher` of the semantic layer."""

    def __init__(
        self,
        embedder: Embedder | None,
        *,
        rules: Callable[[], Sequence[IntentMatcher]],
        devices: DeviceDirectory | Callable[[], DeviceDirectory] | None = None,
        examples: ExampleSet | None = None,
        cache_dir: Path | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.embedder = embedder
        self.rules = rules
        """The matchers tried before this one, in order: they build the intent once its values are known."""
        self.devices = devices
        """The devices a request may name; a callable gives them as they are now (Home Assistant's change)."""
        self.examples = examples
        self.cache_dir = cache_dir
        self.calibration = calibration or Calibration()
        self.counts: dict[str, int] = {"matched": 0, "asked": 0, "left": 0}
        self._matrix: np.ndarray | None = None
        self._rows: dict[str, np.ndarray] = {}
        self._said_off = False
        self._rules: list[IntentMatcher] = []

    @property
    def ready(self) -> bool:
        return self._matrix is not None

    def load(self, language: str = "en") -> None:
        """Embed the examples (or read them from the cache); blocking, so run it off the event loop."""
        if self.embedder is None:
            self._said_off = True
            _LOGGER.info("Semantic layer off: no sentence embedder (the memory is disabled)")
            return
        examples = self.examples = self.examples or load_examples(language)
        matrix = self._cached(examples)
        if matrix is None:
            matrix = np.asarray(self.embedder.embed_batch(list(examples.texts)), dtype=np.float32)
            self._store(examples, matrix)
        self._rules = list(self.rules())
        labels = np.array(examples.labels)
        self._rows = {name: np.flatnonzero(labels == name) for name in examples.families}
        self._matrix = matrix
        _LOGGER.info("Semantic layer ready: %d intents, %d examples", len(self._rows), len(examples.texts))

    def scores(self, said: str) -> dict[str, float]:
        """Each intent's score for the cleaned request: mean cosine of its :data:`TOP_K` nearest examples."""
        assert self._matrix is not None and self.embedder is not None
        sims = self._matrix @ self.embedder.embed(said)
        out = {}
        for name, rows in self._rows.items():
            row = sims[rows]
            k = min(TOP_K, len(row))
            out[name] = float(np.partition(row, len(row) - k)[-k:].mean())
        return out

    def place(self, text: str) -> Placement:
        """Where ``text`` lands (nowhere while the layer is off)."""
        said = clean(text)
        if not self.ready or self.examples is None or not said or len(said) > MAX_CHARS:
            return Placement()
        form = sentence_form(text, self.examples.verbs)  # as said: its punctuation parts its clauses
        if form.kind == "never":  # not a request, whatever it is about: no need to embed it
            return Placement()
        return place(self.scores(said), said, self.examples, self.calibration, form)

    def match(self, text: str) -> Intent | None:
        """The intent ``text`` asks for, a question back, or None for the LLM; never raises."""
        if not self.ready:  # off (no embedder), or the examples are still being embedded
            if self.embedder is None and not self._said_off:
                self._said_off = True
                _LOGGER.info("Semantic layer off: no sentence embedder (the memory is disabled)")
            return None
        try:
            return self._match(text)
        except Exception:  # never cost a turn: the LLM still gets the request
            _LOGGER.exception("The semantic layer failed on a request (%d characters)", len(text))
            return None

    def _match(self, text: str) -> Intent | None:
        said = clean(text)
        placement = self.place(text)
        _LOGGER.debug("Semantic placement of %r: %s", said, placement)
        if placement.asked:
            self.counts["asked"] += 1
            return self._which(placement.asked)
        if placement.intent is None:
            self.counts["left"] += 1
            return None
        intent = self._build(placement.intent, said)
        self.counts["matched" if intent is not None else "left"] += 1
        if intent is not None and intent.data.get("error"):
            self.counts["asked"] += 1
        return intent

    def _build(self, name: str, said: str) -> Intent | None:
        assert self.examples is not None
        info = self.examples.intents[name]
        devices = self.devices() if callable(self.devices) else self.devices
        values = read_values(said, info.slots(), self.examples.carriers[name], devices)
        for slot, question in info.ask.items():
            if not values.get(slot):
                return saying(name, question, {"error": slot})
        request = render(info.say, values)
        if request is None:
            return None
        for matcher in self._rules:
            intent = matcher.match(request)
            if intent is not None:
                if built_as(intent, name):
                    return intent
                _LOGGER.debug("Semantic %s: %r was built as %s instead", name, request, intent.name)
                return None
        _LOGGER.debug("Semantic %s: no rule builds %r", name, request)
        return None

    def _which(self, asked: tuple[str, ...]) -> Intent:
        assert self.examples is not None
        titles = [self.examples.intents[n].title for n in asked]
        speech = f"Did you mean {titles[0]} or {titles[1]}?"
        return saying(AMBIGUOUS, speech[:1].upper() + speech[1:], {"error": "ambiguous", "candidates": "|".join(asked)})

    def _cache_path(self, examples: ExampleSet) -> Path | None:
        if self.cache_dir is None or self.embedder is None:
            return None
        return self.cache_dir / f"semantic-{examples.digest(self.embedder.name)}.npy"

    def _cached(self, examples: ExampleSet) -> np.ndarray | None:
        path = self._cache_path(examples)
        if path is None or not path.exists():
            return None
        try:
            matrix = np.load(path)
        except (OSError, ValueError) as err:
            _LOGGER.warning("Semantic layer: ignoring its unreadable cache %s: %s", path, err)
            return None
        return matrix if matrix.shape[0] == len(examples.texts) else None

    def _store(self, examples: ExampleSet, matrix: np.ndarray) -> None:
        path = self._cache_path(examples)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial.npy")
            np.save(partial, matrix)
            os.replace(partial, path)
        except OSError as err:
            _LOGGER.warning("Semantic layer: could not cache the example embeddings in %s: %s", path, err)


@dataclass
class SemanticFeature(Feature):
    """The semantic layer as a feature: embeds the examples in the background, off the event loop.

    The daemon does not wait for it: until the examples are embedded (about 2 s on this
    machine, 3 ms from the cache) the layer places nothing, and requests go on to the LLM.
    """

    semantic: SemanticIntents
    language: str = "en"
    name: str = field(default="semantic", init=False)
    _loading: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def intents(self) -> Sequence[IntentMatcher]:
        return (self.semantic,)

    async def start(self) -> None:
        self._loading = asyncio.create_task(self._load(), name="semantic-load")

    async def _load(self) -> None:
        try:
            await asyncio.to_thread(self.semantic.load, self.language)
        except (OSError, ValueError) as err:  # a missing or broken examples file: the layer stays off
            _LOGGER.warning("Semantic layer off: %s", err)

    async def loaded(self) -> None:
        """Wait until the examples are embedded (or the layer gave up)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def stop(self) -> None:
        if self._loading is not None and not self._loading.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading  # the worker thread cannot be interrupted: let it finish

    def status(self) -> Mapping[str, Any] | None:
        return {"ready": self.semantic.ready, **self.semantic.counts}
