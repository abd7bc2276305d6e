"""Which models the appliance runs, recorded in the memory at start-up (name, version, sha256, path)."""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

from appliance.memory.records import ModelLoad
from appliance.models.registry import ModelRegistry, sha256_file
from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)


def loaded_models(settings: Settings) -> list[tuple[str, str]]:
    """(role, manifest name or path) of every model the settings load."""
    stt = settings.stt.model if settings.stt.engine == "whisper" else settings.stt.vosk_model
    vad = "silero-vad" if settings.vad.engine == "silero" else ""
    refs = [("wake-features", "oww-melspectrogram"), ("wake-features", "oww-embedding")]
    refs += [("wake", name) for name in settings.wake.models]
    turn = "smart-turn-v3.2" if settings.vad.turn_model == "smart-turn" else ""
    refs += [("vad", vad), ("turn", turn), ("stt", stt), ("llm", settings.llm.model), ("tts", settings.tts.voice)]
    refs += [("embedding", settings.memory.embedding_model), ("lora", settings.llm.lora_path)]
    return [(role, ref) for role, ref in refs if ref]


def describe(registry: ModelRegistry, role: str, ref: str) -> ModelLoad:
    """Version and sha256 from the manifest (verified at load) or, for a plain file, hashed now."""
    spec = registry.specs.get(ref)
    if spec is not None:
        version = _package_version(spec.packages[0]) if spec.packages else spec.files[0].name
        digest = spec.files[0].sha256 if len(spec.files) == 1 else ",".join(f.sha256 for f in spec.files)
        return ModelLoad(ref, role, version, digest, str(registry.file_path(spec, spec.files[0])))
    path = Path(ref).expanduser()
    if path.is_file():
        return ModelLoad(path.name, role, "file", sha256_file(path), str(path))
    return ModelLoad(path.name, role, "directory" if path.is_dir() else "missing", "", str(path))


def _package_version(package: str) -> str:
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} (not installed)"


def model_loads(settings: Settings, registry: ModelRegistry) -> list[ModelLoad]:
    """Every loaded model, described (hashing plain files: call it off the event loop)."""
    out = []
    for role, ref in loaded_models(settings):
        try:
            out.append(describe(registry, role, ref))
        except OSError as err:
            _LOGGER.warning("Cannot describe model %s: %s", ref, err)
    return out
