"""The reply check's counts in a running appliance: ``status`` and the Prometheus metrics (fake engines)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.runtime.app import Appliance
from appliance.runtime.metrics import MetricsFeature
from appliance.settings import PathSettings, Settings
from tests.fakes import engines_with_fakes, until
from tests.test_metrics import LOOPBACK_ANY_PORT, scrape, value
from tests.test_reply_check import ScriptedLlm

JOKE = "Why did the cat sit on the computer? To keep an eye on the mouse."


async def test_status_and_metrics_count_what_the_check_did(registry, tmp_path: Path) -> None:
    llm = ScriptedLlm("I turned on the lights for you.", JOKE)
    settings = Settings(paths=PathSettings(state_dir=str(tmp_path)), metrics=LOOPBACK_ANY_PORT)
    quiet = np.zeros(16000, dtype=np.int16)
    app = Appliance(
        settings,
        engines_with_fakes(registry, llm=llm),
        registry=registry,
        source_factory=lambda: ArraySource(quiet, realtime=True, tail_s=None),
        sink=NullSink(),
        control=False,
        metrics=True,
    )
    runner = asyncio.create_task(app.run())
    try:
        feature = app.feature(MetricsFeature)
        assert feature is not None
        await until(lambda: feature.port != 0, timeout=20, what="metrics served")
        await asyncio.wait_for(app.commands.execute("ask", {"text": "Tell me a joke."}), 20)
        status = app.status()
        assert status["last_turn"]["reply"] == JOKE and status["last_turn"]["reply_check"] == "rewritten"
        assert status["reply_check"]["checked"] == 1 and status["reply_check"]["rewritten"] == 1
        assert status["reply_check"]["reasons"]["action"] == 1
        families = await scrape(feature.port)
        checks = families["appliance_reply_checks"]
        assert value(checks, "appliance_reply_checks_total", outcome="rewritten") == 1
        assert value(checks, "appliance_reply_checks_total", outcome="gave_up") == 0
        failures = families["appliance_reply_check_failures"]
        assert value(failures, "appliance_reply_check_failures_total", reason="action") == 1
    finally:
        app.stop()
        await asyncio.wait_for(runner, 20)
