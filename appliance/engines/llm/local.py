"""The language model: llama-cpp-python behind a narrow streaming API.

- The chat template comes from the GGUF; the adapter formats and tokenizes the
  prompt itself, so it knows exactly which tokens a turn evaluates.
- The KV cache is kept across turns (:mod:`appliance.engines.llm.kvcache`): the prompt so
  far is reused, and cached spans the new prompt no longer has (the last
  turn's notes, the exchange that fell out of the window) are cut out and the
  rest shifted down, so a turn evaluates only its own notes and request.
  :attr:`LlamaLlm.last` and the log say how many tokens that was.
- :meth:`LlamaLlm.prefill` evaluates the stable start of the next prompt while
  the user is still talking.
- Scoring (the home tool path) runs on a fresh cache and puts the
  conversation's cache back afterwards.
- Generation, prefill and scoring run on worker threads, one at a time (a
  lock); generation stops at the next token once ``cancel`` is set (barge-in).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.chunker import plain_text
from appliance.core.errors import LlmError
from appliance.engines.llm.kvcache import KvCache
from appliance.engines.llm.options import generation_threads, lora_kwargs
from appliance.engines.llm.protocol import GenerationStats, LanguageModel, Message
from appliance.settings import LlmSettings

_LOGGER = logging.getLogger(__name__)

USER_MARK = "\x00request\x00"
"""Stands for the request when formatting a prompt's start (cut off before tokenizing)."""
PREFILL_BATCH = 32
"""Tokens per prefill step: a cancelled prefill stops within one of these."""
REPLIES_KEPT = 16
COPY_CHARS = 32
"""A reply whose first this-many characters (case and spacing aside) are an earlier reply's is a copy:
SmolLM2-135M, once it had answered "Le Grand Paris est la maquina de la France" in a session, gave that
same reply to the next eight requests.  The copy is dropped and the reply generated again with its
first token banned; the text is held back only while it still reads like an earlier reply's start."""
COPY_MIN_CHARS = 8
"""An earlier reply shorter than :data:`COPY_CHARS` is a copy when repeated whole; under this, never ("Okay.")."""
COPY_RETRIES = 2
ECHO_MIN_WORDS = 4
"""A request this long has its first token barred as the reply's: SmolLM2 answered "That was the epoch
of incredulity." with the request again in every session run, and catching the copy costs its 7
tokens (0.13-0.17 s) before the reply starts over.  Shorter ones ("Good morning") may be echoed."""
LOOP_TAIL_CHARS = 160
_LOOP = re.compile(r"(.{12,80})\1$", re.DOTALL)
"""A span of 12+ characters said twice back to back ends the reply ("a cat is a cat, a cat is a cat, ...")."""
SMALL_EVAL = 256
"""Scoring prompts up to this many tokens run on the per-token thread count, as prefills always
do: they run while the user speaks, beside the audio loop and the turn model, and llama.cpp's
threads wait for each other at every layer.  (A reply's own prompt and first words run on every
core: :meth:`LlamaLlm.stream`.)"""


@dataclass(frozen=True)
class _Run:
    """What one :meth:`LlamaLlm.stream` call's generations share."""

    cancel: threading.Event
    start: float
    max_tokens: int | None
    may_run: threading.Event | None


class LlamaLlm(LanguageModel):
    """A GGUF chat model; :meth:`stream` yields reply text pieces as they are generated."""

    def __init__(self, model_path: Path, settings: LlmSettings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise LlmError("llm-missing", "llama-cpp-python is not installed; run scripts/setup") from err
        self.settings = settings
        threads, batch_threads = generation_threads(settings)
        lora = lora_kwargs(settings)
        try:
            self._llama = Llama(
                model_path=str(model_path),
                n_ctx=settings.n_ctx,
                n_batch=settings.n_batch,
                n_threads=threads,
                n_threads_batch=batch_threads,
                n_gpu_layers=settings.n_gpu_layers,
                seed=settings.seed if settings.seed >= 0 else 0xFFFFFFFF,
                verbose=False,
                **lora,
            )
        except (ValueError, RuntimeError, OSError) as err:
            raise LlmError("llm-load-failed", f"cannot load {model_path}: {err}") from err
        if lora and not getattr(self._llama, "_lora_adapter", None):
            # llama-cpp-python misses llama.cpp's NULL for an adapter it could not load (bad file, shapes
            # that do not match the model); generating with it would crash the process.
            self._llama.close()
            raise LlmError(
                "llm-lora-failed", f"llm.lora_path: {lora['lora_path']} is not a LoRA adapter for {model_path.name}"
            )
        self._path = model_path
        self._lock = threading.Lock()
        self._open, self._closed = threading.Lock(), False  # _open: tokenizing outside _lock; close() takes both
        self._formatter: Any = None
        self._cache = KvCache(self._llama)
        self._threads = (threads, batch_threads)
        self._threads_now = (threads, batch_threads)
        self._replies: dict[str, str] = {}
        """Spoken reply (whitespace-normalised) → the text as generated, whose tokens the cache holds."""
        self.last = GenerationStats()
        self._never_first = self._single_tokens(settings.reply_never_starts)

    @property
    def name(self) -> str:
        return self._path.stem

    def prefill(self, messages: list[Message], cancel: threading.Event | None = None, user_start: str = "") -> int:
        """Evaluate the start of the next prompt (``messages``, then a user turn opening with ``user_start``); blocking.

        Call it when the user starts speaking, with what every next prompt
        begins with (system prompt, history, and the notes known before the
        request: the day, the context providers' facts): only the request's
        own notes (memories) and words are left for the turn.  It waits for any generation to finish, stops
        within :data:`PREFILL_BATCH` tokens once ``cancel`` is set, and returns
        the tokens it evaluated.
        """
        try:
            prompt = self._chat_prompt([*messages, {"role": "user", "content": user_start + USER_MARK}])
            tokens = self._tokenize(prompt[: prompt.index(USER_MARK)])
        except ValueError as err:
            raise LlmError("llm-failed", f"prefill failed: {err}") from err
        with self._using(self._lock):
            start = time.perf_counter()
            kept = self._cache.reuse(tokens, leave=0)
            self._use_threads(self._threads[0], self._threads[0])  # the user is speaking: leave the audio its core
            evaluated = 0
            try:
                for i in range(kept, len(tokens), PREFILL_BATCH):
                    if cancel is not None and cancel.is_set():
                        break
                    batch = tokens[i : i + PREFILL_BATCH]
                    self._llama.eval(batch)
                    evaluated += len(batch)
            except (ValueError, RuntimeError) as err:
                raise LlmError("llm-failed", f"prefill failed: {err}") from err
            _LOGGER.debug(
                "LLM prefill: %d tokens, %d evaluated in %.3f s", len(tokens), evaluated, time.perf_counter() - start
            )
        return evaluated

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer."""
        return len(self._tokenize(text))

    def stream(
        self,
        messages: list[Message],
        cancel: threading.Event,
        *,
        max_tokens: int | None = None,
        may_run: threading.Event | None = None,
    ) -> Iterator[str]:
        """Blocking generator of reply text; call it on a worker thread.

        While ``may_run`` is clear, generation pauses between tokens (the reply
        path gives the cores to synthesizing the first sentence that way).  Up to
        that first pause the prompt and the tokens run on every core; after it, on
        the per-token count of :func:`generation_threads`, beside the voice.  In a
        loop of silero-sized audio work every 80 ms, two threads against one on
        this 2-core machine: 8 tokens after a turn's prompt p50 0.104 s against
        0.144 s, worst 0.30 s against 0.43 s (30 turns each, interleaved).
        A reply that starts as an earlier one did is generated again (:data:`COPY_CHARS`), and one
        that repeats itself is cut off.
        """
        try:
            tokens = self._tokenize(self._chat_prompt(self._as_generated(messages)))
        except ValueError as err:
            raise LlmError("llm-failed", f"cannot format the prompt: {err}") from err
        with self._using(self._lock):
            stats = GenerationStats(prompt_tokens=len(tokens))
            start = time.perf_counter()
            raw: list[str] = []
            earlier = _reply_starts(messages)
            request = _request_words(messages)
            banned = self._tokenize(request)[:1] if len(request.split()) >= ECHO_MIN_WORDS else []
            run = _Run(cancel, start, max_tokens, may_run)
            try:
                stats.evaluated_tokens = len(tokens) - self._cache.reuse(tokens, leave=1)
                self._use_threads(self._threads[1], self._threads[1])
                while True:
                    raw.clear()
                    watch = earlier if stats.copies_dropped < COPY_RETRIES else []  # the last try stands
                    copy = yield from self._generate(tokens, banned, watch, stats, raw, run)
                    first = self._tokenize(copy)[:1] if copy else []
                    if not first:
                        break
                    stats.copies_dropped += 1
                    _LOGGER.info("LLM reply began like an earlier one; generating it again")
                    _LOGGER.debug("The repeated start: %r", copy)  # reply text: never above DEBUG
                    banned.append(first[0])  # the reply may not begin that way again
                    self._cache.reuse(tokens, leave=1)
            except (ValueError, RuntimeError) as err:
                raise LlmError("llm-failed", f"generation failed: {err}") from err
            finally:
                stats.total_s = time.perf_counter() - start
                self.last = stats
                self._keep_reply("".join(raw))
                _LOGGER.info(
                    "LLM turn: %d prompt tokens, %d evaluated, first token %.3f s, %d generated%s%s",
                    stats.prompt_tokens,
                    stats.evaluated_tokens,
                    stats.first_token_s,
                    stats.completion_tokens,
                    " (cancelled)" if stats.cancelled else "",
                    " (stopped: repeating itself)" if stats.looped else "",
                )

    def _generate(
        self,
        tokens: list[int],
        banned: list[int],
        earlier: list[str],
        stats: GenerationStats,
        raw: list[str],
        run: _Run,
    ) -> Generator[str, None, str | None]:
        """One generation of the reply into ``raw``, yielding its text; returns the held text if it is a copy."""
        s = self.settings
        chunks = self._llama.create_completion(
            prompt=tokens,
            stream=True,
            max_tokens=run.max_tokens or s.max_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            repeat_penalty=s.repeat_penalty,
            stop=list(s.stop) or None,
            logits_processor=self._first_token_bar(len(tokens), banned),
        )
        held: list[str] = []
        holding = bool(earlier)
        may_run, cancel = run.may_run, run.cancel
        for chunk in chunks:
            if may_run is not None and not may_run.is_set():
                self._use_threads(self._threads[0], self._threads[1])  # the voice now runs beside it
                while not may_run.wait(0.05) and not cancel.is_set():
                    pass
            if cancel.is_set():
                stats.cancelled = True
                break
            text = chunk["choices"][0]["text"]  # type: ignore[index]
            if not text:
                continue
            if not stats.completion_tokens:
                stats.first_token_s = time.perf_counter() - run.start
            stats.completion_tokens += 1
            raw.append(text)
            if holding:
                held.append(text)
                so_far = plain_text("".join(held))
                alike = [e for e in earlier if e.startswith(so_far[: len(e)])]
                if alike:
                    if any(len(so_far) >= len(e) for e in alike):
                        return "".join(held)  # an earlier reply's start (or all of a short one), word for word
                    continue
                holding = False
                text = "".join(held)
            yield text
            if _LOOP.search(plain_text("".join(raw[-LOOP_TAIL_CHARS:]))[-LOOP_TAIL_CHARS:]):  # pieces >= 1 char
                stats.looped = True
                break
        if holding and held:
            yield "".join(held)  # a short reply that an earlier one begins with
        return None

    def _single_tokens(self, words: tuple[str, ...]) -> list[int]:
        ids = [self._llama.tokenize(w.encode("utf-8"), add_bos=False, special=False) for w in words if w]
        return sorted({t[0] for t in ids if len(t) == 1})

    def _first_token_bar(self, n_prompt: int, banned: list[int]) -> Any:
        """A llama.cpp logits processor that bars ``banned`` (and the configured openers) as the reply's first token."""
        barred = sorted({*self._never_first, *banned})
        if not barred:
            return None
        from llama_cpp import LogitsProcessorList

        def bar(input_ids: Any, scores: Any) -> Any:
            if len(input_ids) == n_prompt:
                scores[barred] = -float("inf")
            return scores

        return LogitsProcessorList([bar])

    def _use_threads(self, per_token: int, batch: int) -> None:
        """Threads for the next generated tokens and prompt batches; call it holding the lock."""
        if (per_token, batch) != self._threads_now:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self._llama.ctx, per_token, batch)
            self._threads_now = (per_token, batch)

    def _tokenize(self, prompt: str) -> list[int]:
        with self._using(self._open):
            return list(self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    @contextlib.contextmanager
    def _using(self, lock: threading.Lock) -> Iterator[None]:
        with lock:
            if self._closed:
                raise LlmError("llm-closed", f"{self.name} was closed (a model swap replaced it)")
            yield

    def close(self) -> None:
        """Free the weights, KV cache and buffers now (after a running generation ends); idempotent."""
        with self._lock, self._open:
            if not self._closed:
                self._closed, self._llama._sampler = True, None  # the sampler's closure holds the Llama: a cycle
                self._llama.close()

    def _keep_reply(self, generated: str) -> None:
        """Remember a reply as generated, so the next prompt repeats the very tokens the cache holds."""
        if generated.strip():
            self._replies[_words(generated)] = generated
            while len(self._replies) > REPLIES_KEPT:
                del self._replies[next(iter(self._replies))]

    def _as_generated(self, messages: list[Message]) -> list[Message]:
        """``messages`` with each earlier reply as it was generated (the spoken text joins sentences anew)."""
        out = []
        for m in messages:
            raw = self._replies.get(_words(m["content"])) if m["role"] == "assistant" else None
            out.append({**m, "content": raw} if raw is not None else m)
        return out

    def score_continuations(self, messages: list[Message], continuations: list[str]) -> list[float]:
        """Log-probability (nats) of each text as the start of the reply to ``messages``; blocking.

        The prompt is evaluated from an empty KV cache every time, so the scores
        do not depend on what the model was asked before (with a reused prefix
        llama.cpp's batched arithmetic differs slightly, enough to flip a small
        model's close call).  The conversation's cache is saved first and put
        back afterwards, so the next turn does not evaluate its history again.
        """
        import llama_cpp
        import numpy as np

        with self._using(self._lock), self._cache.saved():
            llama = self._llama
            try:
                prompt = self._chat_prompt(messages)
                seqs = [
                    llama.tokenize((prompt + c).encode("utf-8"), add_bos=False, special=True) for c in continuations
                ]
                shared = 0  # tokens all share, leaving each at least one of its own to score
                while all(len(q) > shared + 1 and q[shared] == seqs[0][shared] for q in seqs):
                    shared += 1
                vocab = llama.n_vocab()

                def next_logprobs() -> Any:
                    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(vocab,))
                    shifted = logits.astype(np.float64) - logits.max()
                    return shifted - np.log(np.exp(shifted).sum())

                llama.reset()
                self._use_threads(self._threads[0], self._threads[0 if shared <= SMALL_EVAL else 1])
                llama.eval(seqs[0][:shared])
                start = next_logprobs()
                scores = []
                for seq in seqs:
                    llama.n_tokens = shared  # back to the shared prompt (eval drops the KV entries after it)
                    logprobs, total = start, 0.0
                    for i, token in enumerate(seq[shared:]):
                        total += float(logprobs[token])
                        if i < len(seq) - shared - 1:
                            llama.eval([token])
                            logprobs = next_logprobs()
                    scores.append(total)
            except (ValueError, RuntimeError) as err:
                raise LlmError("llm-failed", f"scoring failed: {err}") from err
        return scores

    def _chat_prompt(self, messages: list[Message]) -> str:
        """``messages`` in the GGUF's chat template, ending where the assistant's reply begins."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            with self._using(self._open):
                llama = self._llama
                template = llama.metadata.get("tokenizer.chat_template")
                if not template:
                    raise LlmError("llm-no-template", f"{self.name} carries no chat template")
                piece = llama._model.token_get_text  # the special tokens' text, as llama-cpp-python reads it
                self._formatter = Jinja2ChatFormatter(
                    template, eos_token=piece(llama.token_eos()), bos_token=piece(llama.token_bos())
                )
        return str(self._formatter(messages=messages).prompt)  # type: ignore[arg-type]


def _words(text: str) -> str:
    return " ".join(text.split())


def _reply_starts(messages: list[Message]) -> list[str]:
    """What a reply must not repeat, as :func:`~appliance.core.chunker.plain_text` cut at :data:`COPY_CHARS`:
    the earlier replies in ``messages``, and the request itself (SmolLM2 answered "Who wrote Romeo and
    Juliet?" with the question)."""
    plain = [plain_text(m["content"]) for m in messages if m["role"] == "assistant"]
    if request := _request_words(messages):
        plain.append(plain_text(request))
    return [p[:COPY_CHARS] for p in plain if len(p) >= COPY_MIN_CHARS]


def _request_words(messages: list[Message]) -> str:
    """The request's own words: the last user message after its notes ("" when the last is not the user's)."""
    if messages and messages[-1]["role"] == "user":
        return messages[-1]["content"].rsplit("\n\n", 1)[-1].strip()
    return ""
