"""The language model: llama-cpp-python behind a narrow streaming API.

- The chat template comes from the GGUF (llama-cpp-python reads it).
- The system prompt is evaluated once at start-up; llama.cpp's prefix match
  keeps it (and the running conversation) in the KV cache across turns, so a
  turn only pays for the new user text.
- Generation runs on a worker thread, one at a time (a lock), and stops at the
  next token once ``cancel`` is set (barge-in).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LlmError
from .settings import LlmSettings
from .workers import iterate_in_thread

_LOGGER = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_s: float = 0.0
    """Seconds from the call to the first generated text."""
    total_s: float = 0.0
    cancelled: bool = False

    @property
    def tokens_per_s(self) -> float:
        decode_s = self.total_s - self.first_token_s
        return (self.completion_tokens - 1) / decode_s if self.completion_tokens > 1 and decode_s > 0 else 0.0


def lora_kwargs(settings: LlmSettings) -> dict[str, Any]:
    """llama.cpp's LoRA arguments for the configured adapter (none when unset)."""
    if not settings.lora_path:
        return {}
    path = Path(settings.lora_path).expanduser()
    if not path.is_file():
        raise LlmError("llm-lora-missing", f"llm.lora_path = {settings.lora_path!r}: no such file")
    return {"lora_path": str(path), "lora_scale": settings.lora_scale}


def generation_threads(settings: LlmSettings) -> tuple[int, int]:
    """(threads per generated token, threads for prompt batches).

    ``llm.n_threads = 0`` gives generation half the cores: a reply is generated
    while the audio thread, Whisper and Piper also want a core, and llama.cpp's
    threads wait for each other at every layer, so one descheduled thread stalls
    them all (measured on 2 cores while a reply was being synthesized: 15 tokens
    took 0.6-0.8 s with 2 threads, 0.27-0.38 s with 1). Prompt batches are big
    enough to use every core.
    """
    cores = os.cpu_count() or 1
    if settings.n_threads:
        return settings.n_threads, settings.n_threads
    return max(1, cores // 2), cores


class LlamaLlm:
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
        self.name = model_path.stem
        self._lock = threading.Lock()
        self._formatter: Any = None
        self.last = GenerationStats()

    def system_messages(self) -> list[Message]:
        return [{"role": "system", "content": self.settings.system_prompt}] if self.settings.system_prompt else []

    def warm_up(self) -> float:
        """Put the system prompt into the KV cache; returns seconds."""
        start = time.perf_counter()
        for _ in self.stream(
            [*self.system_messages(), {"role": "user", "content": "Hi"}], threading.Event(), max_tokens=1
        ):
            pass
        return time.perf_counter() - start

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

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
        path gives the cores to synthesizing the first sentence that way).
        """
        s = self.settings
        with self._lock:
            stats = GenerationStats()
            start = time.perf_counter()
            try:
                chunks = self._llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    max_tokens=max_tokens or s.max_tokens,
                    temperature=s.temperature,
                    top_p=s.top_p,
                    stop=list(s.stop) or None,
                )
                for chunk in chunks:
                    while may_run is not None and not may_run.wait(0.05) and not cancel.is_set():
                        pass
                    if cancel.is_set():
                        stats.cancelled = True
                        break
                    delta: Any = chunk["choices"][0]["delta"]  # type: ignore[index]
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if not text:
                        continue
                    if not stats.completion_tokens:
                        stats.first_token_s = time.perf_counter() - start
                    stats.completion_tokens += 1
                    yield text
            except (ValueError, RuntimeError) as err:
                raise LlmError("llm-failed", f"generation failed: {err}") from err
            finally:
                stats.total_s = time.perf_counter() - start
                self.last = stats

    def score_continuations(self, messages: list[Message], continuations: list[str]) -> list[float]:
        """Log-probability (nats) of each text as the start of the reply to ``messages``; blocking.

        The prompt is evaluated from an empty KV cache every time, so the scores
        do not depend on what the model was asked before (with a reused prefix
        llama.cpp's batched arithmetic differs slightly, enough to flip a small
        model's close call).
        """
        import llama_cpp
        import numpy as np

        with self._lock:
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

            llama = self._llama
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise LlmError("llm-no-template", f"{self.name} carries no chat template")
            piece = llama._model.token_get_text  # the special tokens' text, as llama-cpp-python reads it
            self._formatter = Jinja2ChatFormatter(
                template, eos_token=piece(llama.token_eos()), bos_token=piece(llama.token_bos())
            )
        return str(self._formatter(messages=messages).prompt)  # type: ignore[arg-type]

    async def stream_reply(
        self, messages: list[Message], cancel: threading.Event, may_run: threading.Event | None = None
    ) -> AsyncIterator[str]:
        """The same, as an async iterator for the event loop."""
        async for piece in iterate_in_thread(
            lambda: self.stream(messages, cancel, may_run=may_run), cancel, name="llm"
        ):
            yield piece
