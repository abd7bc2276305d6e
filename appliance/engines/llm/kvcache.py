"""Keeping llama.cpp's KV cache across turns: reuse what the new prompt still has, cut out what it dropped.

llama-cpp-python on its own reuses only the longest common prefix.  A
conversation's prompt also *loses* spans from one turn to the next: the last
turn's notes (time, memories) and, once the window is full, the oldest
exchange.  Everything after the first lost span would be evaluated again.
:func:`reuse_plan` (pure) finds the cached runs the new prompt repeats, in
order; :class:`KvCache` deletes the spans between them from the cache and
shifts the later positions down (RoPE models shift exactly; llama-server's
``--cache-reuse`` does the same), so only the tokens the cache has never seen
are evaluated.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

_LOGGER = logging.getLogger(__name__)

MIN_RUN = 8
"""Fewest tokens a cached run must share with the new prompt to be kept (after the common prefix)."""


@dataclass(frozen=True)
class Run:
    """``length`` cached tokens from position ``cached`` that the new prompt has at position ``new``."""

    cached: int
    new: int
    length: int


def reuse_plan(cached: Sequence[int], new: Sequence[int], *, min_run: int = MIN_RUN) -> list[Run]:
    """The cached runs that make up the start of ``new``, in order, back to back in ``new``.

    The first run is the common prefix (it may be empty); each later one is the
    first place after the previous run where the next ``min_run`` new tokens
    appear in the cache, extended as far as they agree.  It stops at the first
    new token the cache does not have in order.
    """
    prefix = 0
    for a, b in zip(cached, new, strict=False):
        if a != b:
            break
        prefix += 1
    runs = [Run(0, 0, prefix)]
    starts: dict[tuple[int, ...], list[int]] = {}
    for i in range(prefix, len(cached) - min_run + 1):
        starts.setdefault(tuple(cached[i : i + min_run]), []).append(i)
    c, p = prefix, prefix
    while p + min_run <= len(new):
        later = [i for i in starts.get(tuple(new[p : p + min_run]), ()) if i >= c]
        if not later:
            break
        start = later[0]
        n = min_run
        while start + n < len(cached) and p + n < len(new) and cached[start + n] == new[p + n]:
            n += 1
        runs.append(Run(start, p, n))
        c, p = start + n, p + n
    return runs


class KvCache:
    """A ``llama_cpp.Llama``'s cache (sequence 0): align it with a new prompt; save and restore it."""

    def __init__(self, llama: Any) -> None:
        import llama_cpp

        self._llama = llama
        self._lib = llama_cpp
        self.can_shift = bool(llama_cpp.llama_memory_can_shift(llama_cpp.llama_get_memory(llama.ctx)))

    def reuse(self, tokens: Sequence[int], *, leave: int) -> int:
        """Keep what the cache has of ``tokens`` (all but the last ``leave``); returns how many are kept.

        The cache then holds exactly ``tokens[:kept]`` at positions ``0..kept-1``.
        """
        llama = self._llama
        cached = list(llama.input_ids[: llama.n_tokens])
        target = list(tokens[: max(len(tokens) - leave, 0)])
        runs = reuse_plan(cached, target) if self.can_shift else reuse_plan(cached, target, min_run=len(target) + 1)
        ctx = llama._ctx
        shift = 0  # how far the cached tokens after the last kept run have moved down so far
        for run in runs[1:]:
            now_at = run.cached - shift
            gap = now_at - run.new
            if gap:
                ctx.kv_cache_seq_rm(0, run.new, now_at)
                ctx.kv_cache_seq_shift(0, now_at, -1, -gap)
                shift += gap
        kept = runs[-1].new + runs[-1].length
        ctx.kv_cache_seq_rm(0, kept, -1)
        llama.input_ids[:kept] = target[:kept]
        llama.n_tokens = kept
        if len(runs) > 1:
            _LOGGER.debug("KV cache: kept %d of %d cached tokens in %d runs", kept, len(cached), len(runs))
        return kept

    @contextlib.contextmanager
    def saved(self) -> Iterator[None]:
        """Put the cache back as it was after the block (which may reset and refill it)."""
        llama, lib = self._llama, self._lib
        n_tokens = llama.n_tokens
        ids = llama.input_ids[:n_tokens].copy()
        size = lib.llama_state_seq_get_size(llama.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = lib.llama_state_seq_get_data(llama.ctx, buf, size, 0)
        try:
            yield
        finally:
            llama._ctx.kv_cache_seq_rm(0, 0, -1)
            if n_tokens and not lib.llama_state_seq_set_data(llama.ctx, buf, written, 0):
                _LOGGER.warning("Could not restore the conversation's KV cache; the next turn evaluates it again")
                n_tokens = 0
            llama.input_ids[:n_tokens] = ids
            llama.n_tokens = n_tokens
