"""Hybrid retrieval: exact cosine search over sentence vectors + FTS5 BM25, fused with recency and importance.

The vectors of every turn and fact live in one growable float32 matrix in
RAM (384 floats each: 150 MB at 100,000 turns); a query is one matrix-vector
product, exact, no index to tune or rebuild.  Keyword search covers what
embeddings blur (names, numbers) and events, which carry no vectors.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.engines.embedding import DIM
from appliance.memory.records import blob_vector

_LOGGER = logging.getLogger(__name__)

KIND_CODES = {"turn": 0, "fact": 1}
CODE_KINDS = {v: k for k, v in KIND_CODES.items()}
_STOPWORD_TEXT = """
a an and are as at be but by can could did do does for from had has have how i i'm if in into is it
its me my of on or our please so that the their them then there these they this to was we were what
when where which who why will with would you your tell remember about know
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Weights:
    semantic: float = 0.55
    keyword: float = 0.20
    recency: float = 0.10
    importance: float = 0.15
    half_life_s: float = 7 * 86400.0


def fuse(semantic: float, keyword: float, age_s: float, importance: float, w: Weights) -> float:
    """One score from the four signals (each 0..1; cosine clipped at 0)."""
    recency = 0.5 ** (max(age_s, 0.0) / w.half_life_s)
    return w.semantic * max(semantic, 0.0) + w.keyword * keyword + w.recency * recency + w.importance * importance


def keyword_terms(text: str) -> list[str]:
    """The content words of ``text``, each quoted for FTS5."""
    words = [w.strip("'") for w in re.findall(r"[\w']+", text.lower())]
    return [f'"{w}"' for w in dict.fromkeys(w for w in words if len(w) > 1 and w not in STOPWORDS)]


def keyword_query(text: str) -> str:
    """An FTS5 query: the content words of ``text``, quoted, OR-ed (empty if none)."""
    return " OR ".join(keyword_terms(text))


class VectorIndex:
    """(kind, id) → unit vector; exact top-k cosine search; safe to search while another thread adds."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self._matrix = np.zeros((1024, dim), dtype=np.float32)
        self._kinds = np.zeros(1024, dtype=np.int8)
        self._refs = np.zeros(1024, dtype=np.int64)
        self._rows: dict[tuple[str, int], int] = {}
        self._n = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def load(self, conn: sqlite3.Connection) -> int:
        """Read every stored vector (start-up)."""
        count = 0
        for kind, ref, blob in conn.execute("SELECT kind, ref, vector FROM embeddings"):
            if kind in KIND_CODES and len(blob) == self.dim * 4:
                self.add(kind, ref, blob_vector(blob))
                count += 1
        return count

    def add(self, kind: str, ref: int, vector: np.ndarray) -> None:
        with self._lock:
            row = self._rows.get((kind, ref))
            if row is None:
                if self._n == len(self._matrix):
                    self._grow()
                row, self._n = self._n, self._n + 1
                self._rows[(kind, ref)] = row
            self._matrix[row] = vector
            self._kinds[row] = KIND_CODES[kind]
            self._refs[row] = ref

    def add_many(self, kind: str, refs: Iterable[int], vectors: np.ndarray) -> None:
        for ref, vector in zip(refs, vectors, strict=True):
            self.add(kind, ref, vector)

    def _grow(self) -> None:
        size = len(self._matrix) * 2
        # New arrays: a search holding the old ones keeps a consistent view.
        self._matrix = np.concatenate([self._matrix, np.zeros_like(self._matrix)])[:size]
        self._kinds = np.concatenate([self._kinds, np.zeros_like(self._kinds)])[:size]
        self._refs = np.concatenate([self._refs, np.zeros_like(self._refs)])[:size]

    def remove(self, kind: str, ref: int) -> None:
        with self._lock:
            row = self._rows.pop((kind, ref), None)
            if row is not None:
                self._matrix[row] = 0.0  # scores 0: never above any threshold; the slot is not reused

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._n = 0

    def vector(self, kind: str, ref: int) -> np.ndarray | None:
        row = self._rows.get((kind, ref))
        return None if row is None else self._matrix[row].copy()

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, int, float]]:
        """The k most similar items, best first: (kind, id, cosine)."""
        with self._lock:
            n, matrix, kinds, refs = self._n, self._matrix, self._kinds, self._refs
        if n == 0:
            return []
        scores = matrix[:n] @ query.astype(np.float32)
        k = min(k, n)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(CODE_KINDS[int(kinds[i])], int(refs[i]), float(scores[i])) for i in top if scores[i] > 0.0]


@dataclass(frozen=True)
class Hit:
    kind: str
    ref: int
    text: str
    ts: float
    """Unix seconds the item was recorded."""
    score: float
    semantic: float
    keyword: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.ref,
            "text": self.text,
            "score": round(self.score, 4),
            "semantic": round(self.semantic, 4),
            "keyword": round(self.keyword, 4),
            "time": self.ts,
        }


_FETCH = {
    "turn": "SELECT id, ended, user_text, reply, 0.3 FROM turns WHERE id IN ({})",
    "fact": "SELECT id, created, text, '', importance FROM facts WHERE id IN ({})",
    "event": "SELECT id, ts, text, '', 0.2 FROM events WHERE id IN ({})",
}
COMMON_ROWS = 1000
"""A word found in this many rows or more carries little information and costs a lot to rank: left out."""
_COUNT = "SELECT count(*) FROM (SELECT 1 FROM {0} WHERE {0} MATCH ? LIMIT {1})"
_FTS_TABLES = {"turn": "turns_fts", "fact": "facts_fts", "event": "events_fts"}
_FTS = {
    "turn": "SELECT rowid, bm25(turns_fts) FROM turns_fts WHERE turns_fts MATCH ? ORDER BY rank LIMIT ?",
    "fact": "SELECT rowid, bm25(facts_fts) FROM facts_fts WHERE facts_fts MATCH ? ORDER BY rank LIMIT ?",
    "event": "SELECT rowid, bm25(events_fts) FROM events_fts WHERE events_fts MATCH ? ORDER BY rank LIMIT ?",
}


class Retriever:
    """Search the store by meaning and by words; best first."""

    def __init__(
        self,
        reader: Callable[[], sqlite3.Connection],
        embed: Callable[[str], np.ndarray],
        index: VectorIndex,
        weights: Weights | None = None,
        *,
        candidates: int = 40,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reader = reader
        self._embed = embed
        self.index = index
        self.weights = weights or Weights()
        self.candidates = candidates
        self._clock = clock
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="keyword-search")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def search(self, query: str, *, limit: int = 10, kinds: tuple[str, ...] = ("fact", "turn", "event")) -> list[Hit]:
        vector = self._embed(query)
        words = self._pool.submit(self._keyword, query, kinds)  # SQLite and BLAS both release the GIL
        semantic = {(k, r): s for k, r, s in self.index.search(vector, self.candidates * 2) if k in kinds}
        keyword = words.result()
        found = self._fetch(set(semantic) | set(keyword))
        now = self._clock()
        hits = []
        for key, (ts, text, importance) in found.items():
            sem = semantic.get(key)
            if sem is None:
                other = self.index.vector(*key)
                sem = float(other @ vector) if other is not None else 0.0
            kw = keyword.get(key, 0.0)
            score = fuse(sem, kw, now - ts, importance, self.weights)
            hits.append(Hit(key[0], key[1], text, ts, score, sem, kw))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]

    def _keyword(self, query: str, kinds: tuple[str, ...]) -> dict[tuple[str, int], float]:
        terms = keyword_terms(query)
        if not terms:
            return {}
        conn = self._reader()
        raw: dict[tuple[str, int], float] = {}
        for kind in kinds:
            match = self._selective(conn, kind, terms)
            if not match:
                continue
            try:
                for rowid, bm25 in conn.execute(_FTS[kind], (match, self.candidates)):
                    raw[(kind, int(rowid))] = -float(bm25)
            except sqlite3.OperationalError as err:  # a query FTS5 cannot parse: no keyword hits
                _LOGGER.debug("FTS query %r failed: %s", match, err)
        best = max(raw.values(), default=0.0)
        return {k: v / best for k, v in raw.items()} if best > 0 else {}

    def _selective(self, conn: sqlite3.Connection, kind: str, terms: list[str]) -> str:
        """The query without words so common that ranking them would cost more than they tell."""
        sql = _COUNT.format(_FTS_TABLES[kind], COMMON_ROWS)
        kept = []
        for term in terms:
            try:
                if conn.execute(sql, (term,)).fetchone()[0] < COMMON_ROWS:
                    kept.append(term)
            except sqlite3.OperationalError:
                continue
        return " OR ".join(kept)

    def _fetch(self, keys: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[float, str, float]]:
        conn = self._reader()
        out: dict[tuple[str, int], tuple[float, str, float]] = {}
        for kind in ("turn", "fact", "event"):
            ids = [ref for k, ref in keys if k == kind]
            if not ids:
                continue
            sql = _FETCH[kind].format(",".join("?" * len(ids)))
            for ref, ts, text, reply, importance in conn.execute(sql, ids):
                shown = f"{text} — {reply}" if reply else text
                out[(kind, int(ref))] = (float(ts), shown, float(importance))
        return out


def select(
    hits: Iterable[Hit],
    vector_of: Callable[[Hit], np.ndarray | None],
    *,
    limit: int,
    min_similarity: float,
    relative: float = 0.0,
    duplicate: float = 1.0,
) -> list[Hit]:
    """The hits worth the LLM's attention, best first: at most ``limit``.

    A hit is left out when its meaning-similarity to the query is under ``min_similarity``, when
    its fused score is under ``relative`` times the best hit's (the garage key behind "the spare key
    for the shed is under the blue flowerpot"), or when its own vector is ``duplicate`` close to a
    better hit's (a second "Anna's birthday is on Monday" behind "... on Sunday"): every memory in the
    prompt is evaluated afresh on every turn, and a small model follows the wrong one of two.
    Hits without a vector (events) are only checked by score.
    """
    kept: list[Hit] = []
    kept_vectors: list[np.ndarray] = []
    best = None
    for hit in hits:
        if len(kept) >= limit:
            break
        if hit.semantic < min_similarity:
            continue
        if best is None:
            best = hit.score
        elif hit.score < relative * best:
            break  # best first: the rest score lower still
        vector = vector_of(hit) if duplicate < 1.0 else None
        if vector is not None and any(float(vector @ v) >= duplicate for v in kept_vectors):
            continue
        kept.append(hit)
        if vector is not None:
            kept_vectors.append(vector)
    return kept


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else math.nan
