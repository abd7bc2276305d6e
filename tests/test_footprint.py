"""Lazy loading: optional engines (camera/OpenCV, Vosk, the memory's embedder) stay out of a daemon whose
settings leave them off; the real daemon is started and its mapped libraries read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.bench.footprint import CONFIGS, measure

OPTIONAL_MODULES = ("cv2", "vosk", "appliance.vision", "appliance.models.swap.roles", "prometheus_client")


def test_the_composition_root_imports_no_optional_engine():
    code = (
        "import sys, appliance.runtime.app, appliance.runtime.daemon, appliance.runtime.features\n"
        "import appliance.engines.loader\n"
        f"print([m for m in {OPTIONAL_MODULES!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.integration
def test_a_daemon_without_the_camera_maps_no_opencv(registry, tmp_path: Path):
    env = {
        **os.environ,
        "APPLIANCE_PATHS_STATE_DIR": str(registry.state_dir),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path),
        "APPLIANCE_METRICS_LISTEN": "",
    }
    result = measure(CONFIGS["memory off"], tmp_path, env)
    assert result["ready_s"] is not None and result["optional_loaded"] == [], result
