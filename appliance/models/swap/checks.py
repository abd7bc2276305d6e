"""The checks a model passes before it is loaded beside the running one: kind, integrity, memory budget.

Pure file inspection (magic bytes, sidecars, manifest sha256 through the
registry); nothing here loads an engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from appliance.core.errors import ModelError
from appliance.models.registry import ModelRegistry

ROLES = ("llm", "stt", "tts", "wake")
"""What ``models use`` can swap (vision detectors load only with the camera on: not swappable live)."""
MANIFEST_ROLES = {"llm": ("llm",), "stt": ("stt", "stt-streaming"), "tts": ("tts",), "wake": ("wake",)}
"""Manifest ``role`` values a name must have to be used as each swap role."""
GGUF_MAGIC = b"GGUF"
TFLITE_MAGIC = b"TFL3"
"""At byte 4 of a TensorFlow Lite flatbuffer."""
MEMINFO = Path("/proc/meminfo")


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
    """Bytes on disk (a directory's files summed)."""

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
    """A manifest name (sha256-verified) or a path (format-checked) for ``role``; SwapError says why not."""
    check_role(role)
    if ref in registry.specs:
        return _manifest_candidate(role, ref, registry)
    path = Path(ref).expanduser()
    if not path.exists():
        raise SwapError("model-missing", f"{ref[:200]!r} is neither a manifest name nor an existing path")
    _check_kind(role, path)
    return Candidate(role, str(path), path, path.stem if path.is_file() else path.name, "", "", _size(path))


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
    return Candidate(role, name, path, name, sha[:12], sha, spec.size)


def _check_kind(role: str, path: Path) -> None:
    magic = _head(path)
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
    try:
        config = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SwapError("model-corrupt", f"{sidecar.name} is not readable JSON: {err}") from err
    if not isinstance(config, dict) or "audio" not in config:
        raise SwapError("model-corrupt", f"{sidecar.name} has no 'audio' section (not a Piper voice config)")


def _head(path: Path) -> bytes:
    if path.is_dir():
        return b""
    with path.open("rb") as f:
        return f.read(8)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mem_available(meminfo: Path = MEMINFO) -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable)."""
    for line in meminfo.read_text(encoding="ascii").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise SwapError("model-over-budget", f"{meminfo} has no MemAvailable line")


def check_budget(candidate: Candidate, margin_mb: int, available: int) -> None:
    """Loading ``candidate`` beside the running engine must leave ``margin_mb`` free."""
    need = candidate.size + margin_mb * 1024 * 1024
    if need > available:
        raise SwapError(
            "model-over-budget",
            f"{candidate.name} needs {need / 1e6:.0f} MB beside the running model "
            f"({candidate.size / 1e6:.0f} MB + models.memory_margin_mb) but only {available / 1e6:.0f} MB is available",
        )
