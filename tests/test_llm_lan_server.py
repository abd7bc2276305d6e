"""The LAN server path on real parts: llama-cpp-python's own server (a subprocess) and the real SmolLM2.

Each test starts ``python -m llama_cpp.server`` on the default GGUF and a free
port, then kills it (SIGKILL) or freezes it (SIGSTOP) at the moment that
matters, and checks what the reply path does: who answered, how long the
fallback took, and that no sentence is said twice.  Timings are loose (2
shared cores); the strict figures are for a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.engines.llm.local import LlamaLlm
from appliance.engines.llm.router import RoutedLlm
from appliance.settings import LlmSettings
from appliance.voice.reply import ReplyAttempt

from .fakes import FakeTts

pytestmark = pytest.mark.integration

KEY = "sk-lan-4f1c0d9e"
TIMEOUT_S = 1.5
LOCAL_FIRST_TEXT_S = 5.0
"""A loose allowance for the local SmolLM2's first token on shared cores (it is ~0.3 s when idle)."""
READY_S = 60.0
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
LONG = [{"role": "user", "content": "Tell me a long story about a fox who wanted to fly. Use many short sentences."}]
"""SmolLM2 (greedy) writes ~200 tokens of story to this: 4 s of streaming on one thread, time to lose the server in."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on the default model, one thread, a free port."""

    def __init__(self, model: Path, log: Path, api_key: str | None = None) -> None:
        self.port = free_port()
        self.api_key = api_key
        args = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--n_ctx", "1024", "--n_threads", "1", "--n_threads_batch", "1"]
        if api_key:
            args += ["--api_key", api_key]
        self._log = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._wait_ready(log)

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + READY_S
        request = urllib.request.Request(f"{self.url}/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(request, timeout=1.0) as answer:
                    if json.load(answer)["data"]:
                        return
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.1)
        raise AssertionError(f"llama_cpp.server not ready in {READY_S} s: {log.read_text()[-2000:]}")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a frozen one must wake to die
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def model(registry) -> Path:
    return registry.resolve("smollm2-135m")


@pytest.fixture(scope="module")
def local(model: Path) -> LlamaLlm:
    return LlamaLlm(model, LlmSettings(n_threads=1, temperature=0.0, max_tokens=24))


@pytest.fixture(scope="module")
def keyed_server(model: Path, tmp_path_factory) -> Iterator[LlamaServer]:
    server = LlamaServer(model, tmp_path_factory.mktemp("llama") / "server.log", api_key=KEY)
    yield server
    server.stop()


@pytest.fixture
def server(model: Path, tmp_path: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(model, tmp_path / "server.log")
    yield server
    server.stop()


def key_file(tmp_path: Path, key: str) -> str:
    path = tmp_path / "llm.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return str(path)


def routed(local: LlamaLlm, url: str, max_tokens: int = 24, **settings) -> RoutedLlm:
    cfg = LlmSettings(server_url=url, server_timeout_s=TIMEOUT_S, temperature=0.0, max_tokens=max_tokens, **settings)  # type: ignore[arg-type]
    return RoutedLlm(local, cfg)


def first_text(llm: RoutedLlm, messages=QUESTION) -> tuple[float, str]:
    """Seconds to the first text, and the whole reply."""
    start, first, pieces = time.monotonic(), None, []
    for piece in llm.stream(messages, threading.Event()):
        first = first if first is not None else time.monotonic() - start
        pieces.append(piece)
    assert first is not None, "no reply at all"
    return first, "".join(pieces)


def spy_on_server(llm: RoutedLlm) -> list[str]:
    """Record every piece the real server sends (the router's input), and count requests (``[0]`` calls)."""
    assert llm.server is not None
    original, raw = llm.server.stream, []

    def stream(*args, **kwargs):
        raw.append("\x00")  # one per request
        for piece in original(*args, **kwargs):
            raw.append(piece)
            yield piece

    llm.server.stream = stream  # type: ignore[method-assign]
    return raw


async def reply(llm: RoutedLlm, tts: FakeTts, messages) -> ReplyAttempt:
    """One reply through the real reply path (sentence chunker and all), spoken into ``tts``."""
    attempt = ReplyAttempt(llm=llm, tts=tts, messages_for=lambda _: messages, intents=[], first_chunk_chars=24)
    attempt.start(text="request")
    attempt.commit()

    async def drain() -> None:
        async for _ in attempt.chunks():
            pass

    await asyncio.wait_for(drain(), timeout=60)
    await asyncio.wait_for(attempt.finished(), timeout=10)
    assert attempt.error is None
    return attempt


def words(text: str) -> str:
    return " ".join(text.split())


async def test_a_turn_is_answered_by_the_server(local: LlamaLlm, keyed_server: LlamaServer, tmp_path: Path):
    llm = routed(local, keyed_server.url, server_api_key_file=key_file(tmp_path, KEY))
    local_before = local.last
    tts = FakeTts()
    attempt = await reply(llm, tts, QUESTION)
    assert attempt.marks.llm_backend == "server" and llm.last.backend == "server" and not llm.last.fallback
    assert tts.spoken and attempt.reply_text.strip()
    assert llm.last.completion_tokens > 0 and 0 < llm.last.first_token_s < TIMEOUT_S
    assert local.last is local_before  # the local model generated nothing
    assert llm.server_status()["state"] == "ok" and llm.server_status()["url"] == keyed_server.url


def test_a_wrong_key_is_a_coded_fallback_and_never_logged(
    local: LlamaLlm, keyed_server: LlamaServer, tmp_path: Path, caplog
):
    wrong = "sk-wrong-77aa"
    llm = routed(local, keyed_server.url, server_api_key_file=key_file(tmp_path, wrong))
    with caplog.at_level(logging.DEBUG, logger="appliance"):
        _, text = first_text(llm)
    assert text.strip() and (llm.last.backend, llm.last.fallback) == ("local", "server-http-401")
    assert "LLM server not used (server-http-401): the local model answers" in caplog.messages
    status = llm.server_status()
    assert (status["state"], status["last_error"]) == ("backoff", "server-http-401")
    shown = caplog.text + json.dumps(status)
    assert wrong not in shown and KEY not in shown and "capital of France" not in shown


def test_a_killed_server_falls_back_within_the_deadline_then_backs_off(
    local: LlamaLlm, server: LlamaServer, record_property
):
    llm = routed(local, server.url)
    first_text(llm)  # answered by the server: it is warm and known good
    assert llm.last.backend == "server"
    server.signal(signal.SIGKILL)
    requests = spy_on_server(llm)

    elapsed, text = first_text(llm)
    record_property("first_text_after_kill_s", round(elapsed, 3))
    print(f"first text after SIGKILL: {elapsed:.3f} s (local first token {llm.last.first_token_s:.3f} s)")
    assert text.strip() and (llm.last.backend, llm.last.fallback) == ("local", "server-unreachable")
    assert elapsed <= TIMEOUT_S + LOCAL_FIRST_TEXT_S
    assert llm.server_status()["state"] == "backoff" and llm.server_status()["retry_in_s"] > 0

    elapsed, _ = first_text(llm)  # backing off: the dead server is not even tried
    assert llm.last.fallback == "server-backoff" and requests.count("\x00") == 1
    print(f"next turn, backing off: first text {elapsed:.3f} s")


def test_a_frozen_server_costs_one_deadline_then_backs_off(local: LlamaLlm, server: LlamaServer, record_property):
    llm = routed(local, server.url)
    server.signal(signal.SIGSTOP)  # accepts connections (the kernel does), never answers
    elapsed, text = first_text(llm)
    record_property("first_text_after_freeze_s", round(elapsed, 3))
    print(f"first text with a frozen server: {elapsed:.3f} s (deadline {TIMEOUT_S} s)")
    assert text.strip() and (llm.last.backend, llm.last.fallback) == ("local", "server-timeout")
    assert TIMEOUT_S <= elapsed <= TIMEOUT_S + LOCAL_FIRST_TEXT_S
    started = time.monotonic()
    first_text(llm)
    assert llm.last.fallback == "server-backoff" and time.monotonic() - started < LOCAL_FIRST_TEXT_S


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
async def test_a_server_lost_mid_reply_ends_the_reply_cleanly(local: LlamaLlm, server: LlamaServer, sig: int):
    llm = routed(local, server.url, max_tokens=200)
    raw = spy_on_server(llm)
    local_before = local.last

    class KillingTts(FakeTts):
        def synthesize_all(self, text: str):
            if len(self.spoken) == 2:  # two chunks said, more on the way: the server goes now
                server.signal(sig)
            return super().synthesize_all(text)

    tts = KillingTts()
    attempt = await reply(llm, tts, LONG)
    spoken, sent = words(" ".join(tts.spoken)), words("".join(raw).replace("\x00", ""))
    print(f"{signal.Signals(sig).name}: spoke {tts.spoken}; the server had sent {sent!r}")
    assert llm.last.fallback == ("server-closed" if sig == signal.SIGKILL else "server-stalled")
    assert attempt.marks.llm_backend == "server" and local.last is local_before  # no local continuation
    assert len(tts.spoken) >= 3 and sent.startswith(spoken)  # every word once, in the server's order: nothing repeated
    assert spoken[-1] in ".!?…\"')"  # ends at a sentence: the half-written one was held back, not spoken
    assert llm.server_status()["state"] == "backoff"


async def test_status_shows_the_backend_and_the_server_without_its_key(
    local: LlamaLlm, keyed_server: LlamaServer, registry, tmp_path: Path
):
    from appliance.audio.sink import NullSink
    from appliance.runtime.inprocess import running
    from appliance.settings import settings_from_dict

    from .fakes import engines_with_fakes

    key = key_file(tmp_path, KEY)
    settings = settings_from_dict(
        {
            "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
            "llm": {"server_url": keyed_server.url, "server_api_key_file": key, "server_timeout_s": TIMEOUT_S},
            "memory": {"enabled": False},
        }
    )
    engines = engines_with_fakes(registry, llm=RoutedLlm(local, settings.llm))
    async with running(settings, engines, registry, NullSink()) as app:
        answer = await asyncio.wait_for(app.controller.ask("What is the capital of France?", speak=False), 60)
        status = app.status()
    assert answer.outcome == "answered" and answer.reply
    assert status["last_turn"]["llm_backend"] == "server"
    server = status["llm_server"]
    assert (server["url"], server["state"], server["last_error"]) == (keyed_server.url, "ok", None)
    assert KEY not in json.dumps(status, default=str)
