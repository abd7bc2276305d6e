"""The checks a model passes before it is loaded beside the running one: kind, integrity, memory budget.

File inspection only (the file type on the open descriptor, allocated size,
magic bytes, a GGUF's header, sidecars, manifest sha256 through the registry);
nothing here loads an engine or runs the model's own code.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from appliance.core.errors import ModelError
from appliance.models.registry import ModelRegistry
from appliance.models.swap.cost import LlmShape, LoadCost, ShapeError
from appliance.models.swap.gguf import GgufError, GgufHeader, read_header
from appliance.models.swap.template import render_in_child
from appliance.settings import LlmSettings

ROLES = ("llm", "stt", "tts", "wake")
"""What ``models use`` can swap (vision detectors load only with the camera on: not swappable live)."""
MANIFEST_ROLES = {"llm": ("llm",), "stt": ("stt", "stt-streaming"), "tts": ("tts",), "wake": ("wake",)}
"""Manifest ``role`` values a name must have to be used as each swap role."""
GGUF_MAGIC = b"GGUF"
TFLITE_MAGIC = b"TFL3"
"""At byte 4 of a TensorFlow Lite flatbuffer."""
MEMINFO = Path("/proc/meminfo")
CHAT_TEMPLATE = "tokenizer.chat_template"
PROBE_REQUEST = "What time is it?"
PROBE_REPLY = "It is ten past four."
TEMPLATE_MAX_BYTES = 256 << 20
"""What rendering a chat template may grow the child by, at most (a real one: well under 1 MB)."""
MAX_CHARS_PER_TOKEN = 16
"""A rendered prompt longer than ``llm.n_ctx`` × this cannot fit the context window whatever the tokenizer."""


SPARSE_RATIO = 0.5
"""A file with less than this share of its apparent size allocated on disk is refused as sparse."""
SPARSE_MIN = 1 << 20
"""Files under this size are never called sparse (a small file's last block can be partly empty)."""
HASH_CHUNK = 1 << 20
SIDECAR_MAX = 1 << 20
"""Bytes of a Piper voice's JSON config read (they are ~5 KB)."""
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
"""O_NONBLOCK: opening a FIFO must not wait for a writer (the type is checked on the descriptor after)."""


class SwapError(ModelError):
    """A swap that was refused; the running engine stays in place."""


@dataclass(frozen=True)
class Candidate:
    """A model that passed its checks: what to load, and how the history will name it."""

    role: str
    ref: str
    """What was asked for: a manifest name or a path (what the settings and selected.json hold)."""
    path: Path
    name: str
    version: str
    sha256: str
    size: int
    """Bytes allocated on disk (a directory's files summed): what loading can make resident."""
    header: GgufHeader | None = None
    """An LLM's GGUF header, read before loading."""

    def as_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "ref": self.ref,
            "path": str(self.path),
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
        }


def check_role(role: str) -> str:
    if role not in ROLES:
        raise SwapError("unknown-role", f"no model role {role[:40]!r}; roles: {', '.join(ROLES)}")
    return role


def check_model(role: str, ref: str, registry: ModelRegistry) -> Candidate:
    """A manifest name (sha256-verified) or a path (format-checked) for ``role``; SwapError says why not.

    A path is opened without following a final symlink and without blocking
    (a FIFO), and must be a regular file (a directory for STT); the type and
    size are read from the open descriptor, so what is checked is what was opened.
    """
    check_role(role)
    if ref in registry.specs:
        return _manifest_candidate(role, ref, registry)
    path = Path(ref).expanduser()
    fd = _open(path, ref, follow=False)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            _check_kind(role, path, b"")
            _check_directory(path)
            return Candidate(role, str(path), path, path.name, "", "", _directory_size(path))
        if not stat.S_ISREG(info.st_mode):
            raise SwapError("model-not-regular", f"{path.name} is not a regular file (a FIFO, device or socket)")
        size = _allocated(path, info)
        with os.fdopen(os.dup(fd), "rb") as f:
            _check_kind(role, path, f.read(8))
            header = _gguf_header(path, f) if role == "llm" else None
    finally:
        os.close(fd)
    return Candidate(role, str(path), path, path.stem, "", "", size, header)


def _open(path: Path, ref: str, *, follow: bool) -> int:
    try:
        return os.open(path, OPEN_FLAGS | (0 if follow else os.O_NOFOLLOW))
    except FileNotFoundError as err:
        raise SwapError("model-missing", f"{ref[:200]!r} is neither a manifest name nor an existing path") from err
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SwapError("model-not-regular", f"{path.name} is a symbolic link: name the file itself") from err
        raise SwapError("model-unreadable", f"{path.name} cannot be opened: {err.strerror}") from err


def sha256_regular(path: Path) -> str:
    """sha256 of ``path``, opened as :func:`check_model` opens it (it may have been replaced since)."""
    fd = _open(path, str(path), follow=False)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SwapError("model-not-regular", f"{path.name} is not a regular file")
        digest = hashlib.sha256()
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
        return digest.hexdigest()


def _allocated(path: Path, info: os.stat_result) -> int:
    """Bytes allocated on disk; a file mostly made of holes is refused."""
    allocated = min(info.st_size, info.st_blocks * 512)
    if info.st_size >= SPARSE_MIN and allocated < info.st_size * SPARSE_RATIO:
        raise SwapError(
            "model-corrupt",
            f"{path.name} is sparse: {allocated / 1e6:.0f} MB of its {info.st_size / 1e6:.0f} MB are on disk "
            "(an interrupted or faked copy)",
        )
    return allocated


def _gguf_header(path: Path, f: BinaryIO) -> GgufHeader:
    f.seek(0)
    try:
        header = read_header(f)
    except GgufError as err:
        code = "model-out-of-range" if err.out_of_range else "model-corrupt"
        raise SwapError(code, f"{path.name}: {err}") from err
    check_shape(path.name, header)
    return header


def check_shape(name: str, header: GgufHeader) -> LlmShape:
    """The model's shape, or SwapError ``model-out-of-range`` (no template: ``model-wrong-kind``)."""
    try:
        shape = LlmShape.from_header(header)
    except ShapeError as err:
        raise SwapError("model-out-of-range", f"{name}: {err}") from err
    template = header.metadata.get(CHAT_TEMPLATE)
    if not isinstance(template, str) or not template.strip():
        raise SwapError("model-wrong-kind", f"{name} carries no chat template (the appliance converses)")
    return shape


def _manifest_candidate(role: str, name: str, registry: ModelRegistry) -> Candidate:
    spec = registry.spec(name)
    if spec.role not in MANIFEST_ROLES[role]:
        raise SwapError("model-wrong-kind", f"{name} is a {spec.role} model, not a {role} model")
    try:
        path = registry.resolve(name, verify=True)
    except ModelError as err:
        code = "model-corrupt" if "mismatch" in err.message or err.code == "model-corrupt" else err.code
        raise SwapError(code, err.message) from err
    sha = spec.files[0].sha256 if spec.files else ""
    header = None
    if role == "llm":  # the registry's own file: followed, but read through the same checks
        fd = _open(path, name, follow=True)
        with os.fdopen(fd, "rb") as f:
            header = _gguf_header(path, f)
    return Candidate(role, name, path, name, sha[:12], sha, spec.size, header)


def _check_kind(role: str, path: Path, magic: bytes) -> None:
    if role == "llm":
        if magic[:4] != GGUF_MAGIC:
            code = "model-corrupt" if path.suffix == ".gguf" else "model-wrong-kind"
            raise SwapError(code, f"{path.name} is not a GGUF file (the LLM loads .gguf models)")
        return
    if magic[:4] == GGUF_MAGIC:
        raise SwapError("model-wrong-kind", f"{path.name} is a GGUF language model, not a {role} model")
    if role == "tts":
        _check_piper(path)
    elif role == "stt":
        if not path.is_dir() or not ((path / "model.bin").exists() or (path / "am").is_dir()):
            raise SwapError(
                "model-wrong-kind", f"{path.name} is not a speech model directory (CTranslate2 Whisper or Vosk)"
            )
    elif role == "wake" and (
        path.suffix not in (".tflite", ".onnx") or (path.suffix == ".tflite" and magic[4:8] != TFLITE_MAGIC)
    ):
        raise SwapError("model-wrong-kind", f"{path.name} is not a wake-word model (.tflite or .onnx)")


def _check_piper(path: Path) -> None:
    sidecar = path.with_name(path.name + ".json")
    if path.suffix != ".onnx" or not sidecar.exists():
        raise SwapError("model-wrong-kind", f"{path.name} is not a Piper voice (an .onnx with its .onnx.json beside)")
    fd = _open(sidecar, str(sidecar), follow=False)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SwapError("model-not-regular", f"{sidecar.name} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            config = json.loads(f.read(SIDECAR_MAX).decode("utf-8"))
    except (OSError, ValueError) as err:
        raise SwapError("model-corrupt", f"{sidecar.name} is not readable JSON: {err}") from err
    finally:
        os.close(fd)
    if not isinstance(config, dict) or "audio" not in config:
        raise SwapError("model-corrupt", f"{sidecar.name} has no 'audio' section (not a Piper voice config)")


def _check_directory(path: Path) -> None:
    """A model directory holds only regular files and directories (a FIFO in it would block the loader)."""
    for entry in path.rglob("*"):
        mode = entry.lstat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise SwapError("model-not-regular", f"{path.name}/{entry.relative_to(path)} is not a regular file")


def _directory_size(path: Path) -> int:
    return sum(min(i.st_size, i.st_blocks * 512) for p in path.rglob("*") if (i := p.lstat()) and p.is_file())


def mem_available(meminfo: Path = MEMINFO) -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable)."""
    for line in meminfo.read_text(encoding="ascii").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise SwapError("model-over-budget", f"{meminfo} has no MemAvailable line")


def check_template(candidate: Candidate, llm: LlmSettings, *, limit_bytes: int, timeout_s: float) -> int:
    """Render the candidate's chat template in a child process; returns the bytes it grew by.

    The child is killed after ``timeout_s`` (``model-too-slow``) and may grow by
    ``limit_bytes`` but never :data:`TEMPLATE_MAX_BYTES` (``model-over-budget`` beyond);
    a template that fails is ``model-corrupt``.
    """
    header = candidate.header
    if header is None:
        return 0
    tokens = header.metadata.get("tokenizer.ggml.tokens")
    vocab = tokens if isinstance(tokens, list) else []

    def text(key: str) -> str:
        token = header.metadata.get(key)
        return str(vocab[token]) if isinstance(token, int) and 0 <= token < len(vocab) else ""

    system = [{"role": "system", "content": llm.system_prompt}] if llm.system_prompt else []
    exchange = [{"role": "user", "content": PROBE_REQUEST}, {"role": "assistant", "content": PROBE_REPLY}]
    conversations = [[*system, {"role": "user", "content": PROBE_REQUEST}], [*system, *exchange * 4, exchange[0]]]
    render = render_in_child(
        str(header.metadata[CHAT_TEMPLATE]),
        bos=text("tokenizer.ggml.bos_token_id"),
        eos=text("tokenizer.ggml.eos_token_id"),
        conversations=conversations,
        limit_bytes=max(0, min(limit_bytes, TEMPLATE_MAX_BYTES)),
        timeout_s=timeout_s,
    )
    name = candidate.name
    if render.outcome == "slow":
        raise SwapError(
            "model-too-slow", f"{name}'s chat template did not render in {timeout_s:g} s: it loops or is far too long"
        )
    if render.outcome == "memory" or render.chars > llm.n_ctx * MAX_CHARS_PER_TOKEN:
        raise SwapError(
            "model-over-budget",
            f"{name}'s chat template expands a five-exchange conversation beyond what memory or llm.n_ctx allow",
        )
    if render.outcome != "ok":
        raise SwapError("model-corrupt", f"{name}'s chat template does not render: {render.detail}")
    return render.grown


def load_cost(candidate: Candidate, llm: LlmSettings, template: int) -> LoadCost:
    """What loading ``candidate`` will take: an LLM's weights, KV cache, buffers and template; else its files."""
    if candidate.header is None:
        return LoadCost(candidate.size)
    shape = check_shape(candidate.name, candidate.header)
    return LoadCost(candidate.size, shape.kv_bytes(llm.n_ctx), shape.buffer_bytes(llm.n_batch), template)


def check_budget(name: str, cost: LoadCost, margin_mb: int, available: int) -> None:
    """Loading a model that costs ``cost`` beside the running engine must leave ``margin_mb`` free."""
    need = cost.total + margin_mb * 1024 * 1024
    if need > available:
        raise SwapError(
            "model-over-budget",
            f"{name} needs {need / 1e6:.0f} MB beside the running model ({cost.describe()} + "
            f"models.memory_margin_mb) but only {available / 1e6:.0f} MB is available",
        )
