"""The reply check's counts in a running appliance: ``status`` and the Prometheus metrics (fake engines)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.test_metrics import scrape, serving_metrics, value
from tests.test_reply_check import ScriptedLlm

JOKE = "Why did the cat sit on the computer? To keep an eye on the mouse."


async def test_status_and_metrics_count_what_the_check_did(registry, tmp_path: Path) -> None:
    llm = ScriptedLlm("I turned on the lights for you.", JOKE)
    async with serving_metrics(registry, tmp_path, llm) as (app, port):
        await asyncio.wait_for(app.commands.execute("ask", {"text": "Tell me a joke."}), 20)
        status = app.status()
        assert status["last_turn"]["reply"] == JOKE and status["last_turn"]["reply_check"] == "rewritten"
        assert status["reply_check"]["checked"] == 1 and status["reply_check"]["rewritten"] == 1
        assert status["reply_check"]["reasons"]["action"] == 1
        families = await scrape(port)
        checks = families["appliance_reply_checks"]
        assert value(checks, "appliance_reply_checks_total", outcome="rewritten") == 1
        assert value(checks, "appliance_reply_checks_total", outcome="gave_up") == 0
        failures = families["appliance_reply_check_failures"]
        assert value(failures, "appliance_reply_check_failures_total", reason="action") == 1
