"""Memory in the running appliance, with the real engines and the real embedding model.

"Remember that my dentist appointment is on Friday at 3" is stored by voice
intent; among 1,000 distractor memories "when is my dentist appointment"
retrieves it first and the LLM's context contains it; "forget my dentist
appointment" removes it from search and from the context.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.bench.synthetic_memories import distractors
from appliance.core.events import EmotionDetected, ErrorRaised
from appliance.runtime.app import Appliance
from appliance.settings import PathSettings, Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent

FACT = "my dentist appointment is on Friday at 3"


class RecordingLlm:
    """The real LLM, with every message list it is handed kept for inspection."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.calls: list[list[dict[str, str]]] = []

    @property
    def last(self) -> Any:
        return self.llm.last

    def start_prefill(self, messages: list[dict[str, str]], user_start: str = "") -> threading.Event:
        return self.llm.start_prefill(messages, user_start)

    def stream_reply(
        self, messages: list[dict[str, str]], cancel: threading.Event, may_run: threading.Event | None = None
    ) -> AsyncIterator[str]:
        self.calls.append(messages)
        return self.llm.stream_reply(messages, cancel, may_run)


def make_app(state: Path, engines: Any, registry: Any, *, control: bool = False) -> Appliance:
    settings = Settings(paths=PathSettings(state_dir=str(state), runtime_dir=str(state)))
    room = np.zeros(16000 * 600, dtype=np.int16)
    return Appliance(
        settings,
        engines,
        registry=registry,
        source_factory=lambda: ArraySource(room, realtime=True, tail_s=None),
        sink=NullSink(),
        control=control,
    )


async def started(app: Appliance) -> asyncio.Task[int]:
    ready = asyncio.Event()
    task = asyncio.create_task(app.run(on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 120)
    return task


def context_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)


async def test_remember_retrieve_among_distractors_and_forget(tmp_path: Path, engines, registry) -> None:
    app = make_app(tmp_path, engines, registry)
    llm = RecordingLlm(engines.llm)
    app.pipeline.llm = llm
    emotions = app.bus.subscribe(EmotionDetected, name="test")
    task = await started(app)
    try:
        done = await asyncio.wait_for(
            app.commands.execute("ask", {"text": f"Remember that {FACT}.", "speak": False}), 60
        )
        assert done["intent"] == "memory.remember"
        assert "your dentist appointment is on Friday at 3" in done["reply"]
        assert not llm.calls  # a local intent: the LLM was not asked

        lines = [f'{{"kind": "fact", "text": "{t}", "created": 1.7e9}}' for t in distractors(500)]
        lines += [
            f'{{"kind": "turn", "user_text": "{t}", "reply": "Okay.", "started": 1.7e9, "ended": 1.7e9}}'
            for t in distractors(500, seed=8)
        ]
        imported = await asyncio.wait_for(app.commands.execute("memory.import", {"lines": lines}), 300)
        assert imported["imported"] == {"turn": 500, "fact": 500, "event": 0}

        found = await app.commands.execute("memory.search", {"query": "when is my dentist appointment"})
        assert found["hits"][0]["kind"] == "fact" and "dentist" in found["hits"][0]["text"]
        assert found["hits"][0]["score"] > found["hits"][1]["score"]

        said = await asyncio.wait_for(
            app.commands.execute("ask", {"text": "When is my dentist appointment?", "speak": False}), 120
        )
        assert said["intent"] == "memory.answer"  # the fact answers it word for word: said back exactly
        assert said["reply"] == "Your dentist appointment is on Friday at 3." and not llm.calls
        await asyncio.wait_for(
            app.commands.execute("ask", {"text": "What day do I see the dentist?", "speak": False}), 120
        )
        assert "Friday at 3" in context_text(llm.calls[-1])  # not word for word: the LLM, with the fact
        event = await asyncio.wait_for(emotions.get(), 30)
        assert event.label in ("neutral", "happy", "sad", "angry", "stressed") and 0 <= event.score <= 1

        done = await asyncio.wait_for(
            app.commands.execute("ask", {"text": "Forget my dentist appointment.", "speak": False}), 60
        )
        assert done["intent"] == "memory.forget" and "Friday" not in done["reply"]
        found = await app.commands.execute("memory.search", {"query": "when is my dentist appointment"})
        assert not any("dentist" in h["text"].lower() for h in found["hits"])
        await asyncio.wait_for(
            app.commands.execute("ask", {"text": "When is my dentist appointment?", "speak": False}), 120
        )
        assert "Friday at 3" not in context_text(llm.calls[-1])
        assert "dentist" not in context_text(llm.calls[-1][:-1]).lower()
    finally:
        emotions.close()
        app.stop()
        await asyncio.wait_for(task, 60)


async def test_garbage_database_is_quarantined_and_the_appliance_comes_up(tmp_path: Path, engines, registry) -> None:
    (tmp_path / "memory.db").write_bytes(b"this is not a database" * 1000)
    app = make_app(tmp_path, engines, registry, control=True)
    errors = app.bus.subscribe(ErrorRaised, name="test")
    task = await started(app)
    try:
        error = await asyncio.wait_for(errors.get(), 10)
        assert error.code == "memory-corrupt"
        status = app.status()
        assert status["memory"]["quarantined"] and Path(status["memory"]["quarantined"]).exists()
        assert list(tmp_path.glob("memory.db.corrupt.*"))
        done = await asyncio.wait_for(
            app.commands.execute("ask", {"text": "Remember that the spare key is under the pot.", "speak": False}), 60
        )
        assert done["intent"] == "memory.remember"
        stats = await app.commands.execute("memory.stats", {})
        assert stats["counts"]["fact"] == 1
        assert {m["role"] for m in stats["models"]} >= {"llm", "stt", "tts", "embedding", "wake"}
        assert all(len(m["sha256"]) >= 64 for m in stats["models"] if m["role"] != "lora")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path)}
        argv = [sys.executable, "-m", "appliance", "memory", "search", "where is the spare key", "--json"]
        proc = await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        hits = json.loads(proc.stdout)["hits"]  # answered by the daemon, through its socket
        assert hits[0]["kind"] == "fact" and "spare key" in hits[0]["text"]
    finally:
        errors.close()
        app.stop()
        await asyncio.wait_for(task, 60)
