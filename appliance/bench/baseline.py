"""``appliance bench --only baseline``: the latency section's conversations through a Home-Assistant-style chain.

The chain waits for a fixed 0.7 s of silence (no speculation, no turn model), gives Whisper its
full 30 s window, and holds speech until ~60 characters of reply exist.  The session bench runs
its own HA-style chain of the raw engines with the same endpoint and hold.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from appliance.bench.harness import Recording, run_latency, summarize
from appliance.engines.stt.factory import load_stt
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Engines
from appliance.settings import Settings

HA_END_SILENCE_S = 0.7
"""The Home-Assistant-style chain's endpoint (its vad.end_silence_s)."""
HA_HOLD_CHARS = 60
"""…and how much reply text it waits for before speaking (the pipeline's hold_chars)."""


def ha_style_settings(settings: Settings) -> Settings:
    """``settings`` with the HA-style chain's endpoint and Whisper window."""
    return replace(
        settings,
        vad=replace(settings.vad, end_silence_s=HA_END_SILENCE_S, speculate_after_s=0.0, turn_model="off"),
        stt=replace(settings.stt, short_window=False),
    )


async def measure_baseline(
    settings: Settings, engines: Engines, registry: ModelRegistry, recordings: list[Recording]
) -> dict[str, Any]:
    """p50/p95 of every stage with the HA-style chain, over the same recordings as the latency section."""
    base_settings = ha_style_settings(settings)
    base_engines = replace(engines, stt=load_stt(base_settings.stt, registry))
    rows, _ = await run_latency(base_settings, base_engines, registry, recordings, "ha-style", hold_chars=HA_HOLD_CHARS)
    return summarize(rows)
