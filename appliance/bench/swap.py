"""Swap every role once with the real engines while a conversation runs (``python -m appliance.bench.swap``).

Prints JSON: per role the load and probe seconds and the RSS after loading
beside the old engine; the process's peak RSS (VmHWM); and the turns that ran
during the swaps with how many failed.  The LLM is swapped to a copy of its own
file, the other roles to their own (or another installed) model: what is
measured is the swap, not a model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.audio.sink import NullSink
from appliance.core.procstat import memory_mb
from appliance.engines.loader import load_engines
from appliance.models.registry import ModelRegistry
from appliance.runtime.inprocess import running
from appliance.settings import PathSettings, Settings, load_settings

ROLE_TARGETS = (("stt", "whisper-base"), ("tts", "en_US-joe-medium"), ("wake", "alexa"))
FIGURES = ("name", "load_s", "probe_s", "turn_wait_s", "total_s", "rss_peak_mb")
PROMPTS = ("What is the capital of France?", "Say hi.", "Tell me a joke about cats.")


async def measure_swaps(settings: Settings, registry: ModelRegistry, scratch: Path) -> dict[str, Any]:
    """Swap llm (to a copy), stt, tts and wake in a running appliance while ``ask`` turns keep coming."""
    engines = await asyncio.to_thread(load_engines, settings, registry)
    swaps: dict[str, Any] = {}
    outcomes: list[str] = []
    async with running(settings, engines, registry, NullSink()) as app:
        copy = scratch / "llm-copy.gguf"
        shutil.copy(registry.resolve(settings.llm.model), copy)
        done = asyncio.Event()

        async def conversation() -> None:
            while not done.is_set():
                reply = await app.commands.execute("ask", {"text": PROMPTS[len(outcomes) % len(PROMPTS)]})
                outcomes.append(reply["outcome"])

        talker = asyncio.create_task(conversation())
        for role, model in (("llm", str(copy)), *ROLE_TARGETS):
            result = await app.commands.execute("models.use", {"role": role, "model": model})
            swaps[role] = {k: result["swapped"][k] for k in FIGURES}
        done.set()
        await asyncio.wait_for(talker, 120)
    return {
        "swaps": swaps,
        "peak_rss_mb": memory_mb(),
        "turns_during_swaps": len(outcomes),
        "turns_failed": sum(1 for o in outcomes if o == "failed"),
        "outcomes": sorted(set(outcomes)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.bench.swap", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML config (default: built-in defaults)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as scratch:
        state = Path(scratch) / "state"
        (state / "models").mkdir(parents=True)
        registry = ModelRegistry(settings.state_dir, show_progress=False)  # models from the usual place
        bench = replace(settings, paths=PathSettings(state_dir=str(state)))  # swaps remembered in scratch only
        json.dump(asyncio.run(measure_swaps(bench, registry, Path(scratch))), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
