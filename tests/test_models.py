"""Model registry: manifest, site-packages lookup, joins, checksums, resumable fetch."""

from __future__ import annotations

import hashlib
import http.server
import sys
import threading
from typing import ClassVar

import pytest

from appliance.core.errors import ModelError
from appliance.models.registry import ModelRegistry, load_manifest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A site-packages folder holding a split model and a single-file model."""
    site = tmp_path / "site"
    (site / "pkg_a" / "data").mkdir(parents=True)
    (site / "pkg_b" / "data").mkdir(parents=True)
    part1, part2 = b"A" * 3000, b"B" * 2000
    (site / "pkg_a" / "data" / "model.bin.part1").write_bytes(part1)
    (site / "pkg_b" / "data" / "model.bin.part2").write_bytes(part2)
    (site / "pkg_b" / "data" / "config.json").write_bytes(b"{}")
    (site / "pkg_b" / "data" / "voice.onnx").write_bytes(b"voice")
    monkeypatch.syspath_prepend(str(site))
    manifest = tmp_path / "manifest.toml"
    joined = sha(part1 + part2)
    parts = '"pkg_a/data/model.bin.part1", "pkg_b/data/model.bin.part2"'
    manifest.write_text(
        f"""
[[model]]
name = "split"
role = "stt"
source = "pypi"
packages = ["pkg-a", "pkg-b"]
directory = true
files = [
  {{ name = "model.bin", parts = [{parts}], sha256 = "{joined}", size = 5000 }},
  {{ path = "pkg_b/data/config.json", sha256 = "{sha(b"{}")}", size = 2 }},
]

[[model]]
name = "voice"
role = "tts"
source = "pypi"
packages = ["pkg-b"]
files = [{{ path = "pkg_b/data/voice.onnx", sha256 = "{sha(b"voice")}", size = 5 }}]

[[model]]
name = "absent"
role = "llm"
source = "pypi"
packages = ["pkg-c"]
files = [{{ path = "pkg_c/model.gguf", sha256 = "{"0" * 64}", size = 5 }}]

[[model]]
name = "remote"
role = "llm"
source = "url"
url = "http://127.0.0.1:PORT/remote.gguf"
files = [{{ name = "remote.gguf", sha256 = "{sha(b"R" * 100_000)}", size = 100000 }}]
"""
    )
    return manifest, site


def test_real_manifest_parses_and_names_every_default():
    specs = load_manifest()
    for name in (
        "hey_jarvis",
        "oww-melspectrogram",
        "oww-embedding",
        "whisper-base",
        "smollm2-135m",
        "en_US-joe-medium",
        "silero-vad",
        "smart-turn-v3.2",
        "vosk-small-en-us",
        "qwen2.5-1.5b-instruct",
    ):
        assert name in specs
    assert all(len(f.sha256) == 64 for s in specs.values() for f in s.files)


def test_join_verify_and_resolve(fake_site, tmp_path):
    manifest, _ = fake_site
    registry = ModelRegistry(tmp_path / "state", manifest=manifest, show_progress=False)
    assert registry.status("split").state == "unverified"
    folder = registry.resolve("split")
    assert (folder / "model.bin").read_bytes() == b"A" * 3000 + b"B" * 2000
    assert (folder / "config.json").exists()
    assert registry.status("split").state == "ok"
    assert registry.resolve("voice").name == "voice.onnx"


def test_corruption_is_detected(fake_site, tmp_path):
    manifest, site = fake_site
    registry = ModelRegistry(tmp_path / "state", manifest=manifest, show_progress=False)
    (site / "pkg_b" / "data" / "voice.onnx").write_bytes(b"VOICE")  # same size, other bytes
    with pytest.raises(ModelError) as info:
        registry.resolve("voice")
    assert info.value.code == "model-corrupt"
    assert registry.status("voice", verify=True).state == "sha256-mismatch"


def test_missing_model_names_the_install_command(fake_site, tmp_path):
    manifest, _ = fake_site
    registry = ModelRegistry(tmp_path / "state", manifest=manifest, show_progress=False)
    with pytest.raises(ModelError) as info:
        registry.resolve("absent")
    assert info.value.code == "model-missing"
    assert "scripts/setup" in info.value.message
    with pytest.raises(ModelError) as info:
        registry.resolve("remote")
    assert "appliance models fetch remote" in info.value.message
    with pytest.raises(ModelError, match="no model called"):
        registry.resolve("nonexistent")


class RangeHandler(http.server.BaseHTTPRequestHandler):
    body = b"R" * 100_000
    ranges: ClassVar[list[str]] = []

    def do_GET(self):
        start = 0
        if self.headers.get("Range"):
            self.ranges.append(self.headers["Range"])
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(self.body) - start))
        self.end_headers()
        self.wfile.write(self.body[start:])

    def log_message(self, *args):
        pass


def test_fetch_resumes_verifies_and_renames(fake_site, tmp_path):
    manifest, _ = fake_site
    server = http.server.HTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        manifest.write_text(manifest.read_text().replace("PORT", str(server.server_port)))
        models_dir = tmp_path / "models"
        registry = ModelRegistry(tmp_path / "state", models_dir=models_dir, manifest=manifest, show_progress=False)
        partial = models_dir / "remote" / "remote.gguf.partial"
        partial.parent.mkdir(parents=True)
        partial.write_bytes(b"R" * 40_000)  # an interrupted earlier download
        path = registry.fetch("remote")
        assert path.read_bytes() == RangeHandler.body
        assert RangeHandler.ranges == ["bytes=40000-"]
        assert not partial.exists()
        with pytest.raises(ModelError, match="comes from PyPI"):
            registry.fetch("voice")
    finally:
        server.shutdown()


def test_fetch_refuses_plain_http(fake_site, tmp_path):
    manifest, _ = fake_site
    manifest.write_text(manifest.read_text().replace("http://127.0.0.1:PORT", "http://example.com"))
    registry = ModelRegistry(tmp_path / "state", manifest=manifest, show_progress=False)
    with pytest.raises(ModelError, match="only https"):
        registry.fetch("remote")


def test_installed_default_models_verify(registry):
    for name in ("hey_jarvis", "smollm2-135m", "en_US-joe-medium", "whisper-base", "silero-vad", "smart-turn-v3.2"):
        assert registry.status(name, verify=True).state == "ok", name
    assert sys.modules.get("torch") is None  # the model packages never pulled in torch


def test_on_demand_models_are_pinned_and_name_their_fetch(tmp_path):
    specs = load_manifest()
    on_demand = [s for s in specs.values() if s.on_demand]
    assert [s.name for s in on_demand] == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    for spec in on_demand:
        assert spec.source == "pypi" and all("==" in p for p in spec.packages)
        assert len(spec.files[0].parts) == len(spec.packages)  # one part per package, in order
        assert spec.install_command == f"appliance models fetch {spec.name}"
    registry = ModelRegistry(tmp_path / "state", show_progress=False)
    if registry.status("qwen2.5-coder-1.5b").state == "missing":
        with pytest.raises(ModelError, match=r"appliance models fetch qwen2\.5-coder-1\.5b"):
            registry.resolve("qwen2.5-coder-1.5b")


def test_on_demand_packages_must_be_pinned(fake_site, tmp_path):
    manifest, _ = fake_site
    text = manifest.read_text().replace(
        'name = "absent"\nrole = "llm"\nsource = "pypi"\npackages = ["pkg-c"]',
        'name = "absent"\nrole = "llm"\nsource = "pypi"\non_demand = true\npackages = ["pkg-c"]',
    )
    manifest.write_text(text)
    registry = ModelRegistry(tmp_path / "state", manifest=manifest, show_progress=False)
    with pytest.raises(ModelError) as info:
        registry.fetch("absent")  # refused before pip runs: an unpinned package could be anything
    assert info.value.code == "model-bad-manifest"
