"""``appliance bench --only latency``: conversations ("Hey Jarvis" + a request) fed in real time through
the real pipeline; p50/p95 of every stage and of end of speech → first reply audio.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from appliance.bench.harness import Recording, conversation_audio, run_latency, summarize
from appliance.bench.plot import plot_timeline
from appliance.cli.converse import converse
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Engines
from appliance.settings import Settings

REQUESTS = (
    "What is the capital of France?",
    "What time is it?",
    "Tell me a joke about cats.",
    "How far away is the moon?",
    "What should I cook for dinner tonight?",
    "Turn on the kitchen light.",
    "Who wrote Romeo and Juliet?",
    "What is the weather like today?",
)


def make_recordings(engines: Engines, count: int) -> list[Recording]:
    """The first ``count`` requests (0 = all) after "Hey Jarvis", in the engines' Piper voice."""
    requests = REQUESTS[:count] if count else REQUESTS
    return [(text, conversation_audio(engines.tts, text)) for text in requests]


async def measure_latency(
    settings: Settings, engines: Engines, registry: ModelRegistry, recordings: list[Recording], plot: Path | None
) -> dict[str, Any]:
    """The ``latency`` report, and with ``plot`` the ``plot`` entry: one conversation's stage timeline drawn there."""
    rows, raw = await run_latency(settings, engines, registry, recordings, "latency")
    report: dict[str, Any] = {"latency": summarize(rows) | {"per_request": rows}}
    if plot and raw and raw[0].turns:
        out = Path(tempfile.mkdtemp()) / "plot.wav"
        plot_run = await converse(settings, engines, registry, recordings[0][1], realtime=True, out=out)
        plot_timeline(plot_run, plot)
        report["plot"] = str(plot)
    return report
