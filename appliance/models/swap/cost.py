"""What loading a model will cost in memory, from its file and its GGUF header (pure arithmetic).

A language model's file is only part of it: llama.cpp also allocates the KV
cache for the whole context window (``llm.n_ctx`` × layers × the keys' and
values' width, in f16), a logits buffer per batch, and the chat template is
rendered on every turn.  The swap budgets the sum, not the file size.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.models.swap.gguf import GgufHeader

KV_BYTES = 2
"""llama.cpp's default KV cache type is f16."""
LOGITS_BYTES = 4
LOGITS_COPIES = 2
"""llama.cpp's output buffer and llama-cpp-python's score array, each n_batch × n_vocab float32."""
RANGES: dict[str, tuple[int, int]] = {
    "context_length": (1, 1 << 20),
    "block_count": (1, 1024),
    "embedding_length": (1, 1 << 17),
    "attention.head_count": (1, 4096),
    "attention.head_count_kv": (0, 4096),
    "attention.key_length": (1, 1 << 14),
    "attention.value_length": (1, 1 << 14),
}
"""Accepted values of a GGUF's ``{architecture}.*`` keys: beyond them llama.cpp's own arithmetic overflows."""
REQUIRED = ("context_length", "block_count", "embedding_length")
MAX_VOCAB = 1 << 21


class ShapeError(ValueError):
    """A header value that is missing or out of range."""


@dataclass(frozen=True)
class LlmShape:
    """The sizes that decide a language model's memory beyond its weights."""

    context_length: int
    layers: int
    embedding: int
    kv_heads: int
    key_length: int
    value_length: int
    vocab: int

    @classmethod
    def from_header(cls, header: GgufHeader) -> LlmShape:
        """The shape, each value checked against :data:`RANGES`; ShapeError names the first bad one."""
        if not header.architecture or len(header.architecture) > 64:
            raise ShapeError("general.architecture is missing")
        values: dict[str, int] = {}
        for key, (low, high) in RANGES.items():
            value = header.arch_int(key)
            if value is None:
                if key in REQUIRED:
                    raise ShapeError(f"{header.architecture}.{key} is missing")
                continue
            if not low <= value <= high:
                raise ShapeError(f"{header.architecture}.{key} = {value} is outside {low}..{high}")
            values[key] = value
        heads = values.get("attention.head_count", 1)
        head_width = values["embedding_length"] // heads
        tokens = header.metadata.get("tokenizer.ggml.tokens")
        vocab = len(tokens) if isinstance(tokens, list) else 0
        if not 1 <= vocab <= MAX_VOCAB:
            raise ShapeError(f"tokenizer.ggml.tokens has {vocab} tokens, outside 1..{MAX_VOCAB}")
        for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
            token = header.metadata.get(key)
            if token is not None and not (isinstance(token, int) and 0 <= token < vocab):
                raise ShapeError(f"{key} = {token} is not one of the {vocab} tokens")
        return cls(
            context_length=values["context_length"],
            layers=values["block_count"],
            embedding=values["embedding_length"],
            kv_heads=values.get("attention.head_count_kv", heads),
            key_length=values.get("attention.key_length", head_width),
            value_length=values.get("attention.value_length", head_width),
            vocab=vocab,
        )

    def kv_bytes(self, n_ctx: int) -> int:
        """The KV cache for ``n_ctx`` tokens."""
        return n_ctx * self.layers * self.kv_heads * (self.key_length + self.value_length) * KV_BYTES

    def buffer_bytes(self, n_batch: int) -> int:
        """The logits buffers for a batch of ``n_batch`` tokens."""
        return n_batch * self.vocab * LOGITS_BYTES * LOGITS_COPIES


@dataclass(frozen=True)
class LoadCost:
    """Bytes that loading a model will take, by what takes them."""

    weights: int
    kv_cache: int = 0
    buffers: int = 0
    template: int = 0
    """What rendering the chat template grew a process by."""

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.buffers + self.template

    def describe(self) -> str:
        parts = [("weights", self.weights), ("KV cache", self.kv_cache), ("buffers", self.buffers)]
        parts.append(("chat template", self.template))
        return " + ".join(f"{n / 1e6:.0f} MB {what}" for what, n in parts if n)
