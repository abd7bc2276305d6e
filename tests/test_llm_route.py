"""The router between the LAN server and the local model: back-off, fallback reasons, whole sentences, status.

Orchestration tests on a scripted HTTP server and a fake local model; the real
llama_cpp.server and the real SmolLM2 run in tests/test_llm_lan_server.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from appliance.engines.llm.local import GenerationStats
from appliance.engines.llm.router import LlmServerFeature, RoutedLlm, ServerHealth
from appliance.settings import LlmSettings

from .fakes import ScriptedLlmServer, sse_chunk, sse_reply

PROMPT = [{"role": "user", "content": "secret prompt words"}]


class FakeLocal:
    """The local model's interface, streaming a fixed reply."""

    name = "fake-local"

    def __init__(self, settings: LlmSettings, reply: str = "Local answer.") -> None:
        self.settings = settings
        self.reply = reply
        self.calls = 0
        self.last = GenerationStats()

    def stream(self, messages, cancel, *, max_tokens=None, may_run=None) -> Iterator[str]:
        self.calls += 1
        yield self.reply
        self.last = GenerationStats(completion_tokens=1, first_token_s=0.01)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[ScriptedLlmServer]:
    with ScriptedLlmServer() as s:
        yield s


def router(url: str, clock: Clock | None = None, **settings) -> tuple[RoutedLlm, FakeLocal]:
    s = LlmSettings(server_url=url, **settings)
    local = FakeLocal(s)
    return RoutedLlm(local, s, clock=clock or Clock()), local  # type: ignore[arg-type]


def test_backoff_doubles_to_five_minutes_and_a_success_resets_it():
    h = ServerHealth()
    assert h.state(0.0) == "unknown" and h.due(0.0)
    waits = [h.failed("server-timeout", 0.0) for _ in range(9)]
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert h.state(299.0) == "backoff" and not h.due(299.0)
    assert h.state(300.0) == "down" and h.due(300.0)  # the next turn tries again
    h.succeeded(wall=1.7e9)
    assert h.state(300.0) == "ok" and h.failures == 0 and h.failed("server-http-500", 400.0) == 5.0
    assert h.snapshot(401.0) == {
        "state": "backoff",
        "last_error": "server-http-500",
        "retry_in_s": 4.0,
        "failures": 1,
        "last_ok_at": 1.7e9,
    }


def test_a_healthy_server_answers_in_whole_sentences(server):
    server.respond = lambda h: server.send(h, 200, sse_reply("It is", " ten.", " Mr. Smith", " called", ", twice"))
    llm, local = router(server.url)
    assert list(llm.stream(PROMPT, threading.Event())) == ["It is ten. ", "Mr. Smith called, twice"]
    assert local.calls == 0 and llm.last.backend == "server" and llm.last.completion_tokens == 5
    assert llm.server_status()["state"] == "ok" and llm.server_status()["last_ok_at"] is not None


def test_a_failure_before_any_sentence_falls_back_then_backs_off(server, caplog):
    server.respond = lambda h: server.send(h, 503, "busy", "text/plain")
    clock = Clock()
    llm, _ = router(server.url, clock)
    with caplog.at_level(logging.DEBUG, logger="appliance"):
        assert list(llm.stream(PROMPT, threading.Event())) == ["Local answer."]
    assert (llm.last.backend, llm.last.fallback) == ("local", "server-http-503")
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info == ["LLM server not used (server-http-503): the local model answers"]
    assert all("secret prompt" not in r.getMessage() for r in caplog.records)
    status = llm.server_status()
    assert (status["state"], status["last_error"], status["retry_in_s"]) == ("backoff", "server-http-503", 5.0)

    clock.now += 4.0  # still backing off: the server is not asked at all
    assert list(llm.stream(PROMPT, threading.Event())) == ["Local answer."]
    assert len(server.requests) == 1 and llm.last.fallback == "server-backoff"

    clock.now += 1.0
    server.respond = lambda h: server.send(h, 200, sse_reply("Back again."))
    assert llm.server_status()["state"] == "down"  # due: the next turn tries it
    assert list(llm.stream(PROMPT, threading.Event())) == ["Back again."]
    assert len(server.requests) == 2 and llm.last.backend == "server" and llm.server_status()["failures"] == 0


def test_dying_mid_reply_ends_after_the_last_whole_sentence(server):
    server.respond = lambda h: server.send(h, 200, sse_chunk() + sse_chunk("One. Two.") + sse_chunk(" Thr"))
    llm, local = router(server.url)
    assert list(llm.stream(PROMPT, threading.Event())) == ["One. ", "Two. "]  # "Thr…" was never finished
    assert local.calls == 0 and (llm.last.backend, llm.last.fallback) == ("server", "server-closed")
    assert llm.server_status()["state"] == "backoff"


def test_dying_inside_the_first_sentence_lets_the_local_model_answer_it_all(server):
    server.respond = lambda h: server.send(h, 200, sse_chunk() + sse_chunk("The answer is"))
    llm, local = router(server.url)
    assert list(llm.stream(PROMPT, threading.Event())) == ["Local answer."]  # nothing was said: start afresh
    assert local.calls == 1 and llm.last.fallback == "server-closed"


def test_an_empty_server_reply_is_answered_locally_without_blaming_the_server(server):
    server.respond = lambda h: server.send(h, 200, sse_reply())
    llm, _ = router(server.url)
    assert list(llm.stream(PROMPT, threading.Event())) == ["Local answer."]
    assert llm.last.fallback == "server-empty" and llm.server_status()["state"] == "ok"


def test_a_silent_server_costs_at_most_the_deadline(server):
    server.respond = lambda h: server.release.wait(10)
    llm, _ = router(server.url, server_timeout_s=0.3)
    start = time.monotonic()
    assert list(llm.stream(PROMPT, threading.Event())) == ["Local answer."]
    assert time.monotonic() - start < 0.3 + 0.5 and llm.last.fallback == "server-timeout"


def test_reloaded_server_settings_make_a_new_client_and_forget_the_health(server, tmp_path):
    server.respond = lambda h: server.send(h, 503, "busy", "text/plain")
    llm, local = router(server.url)
    list(llm.stream(PROMPT, threading.Event()))
    llm.settings = LlmSettings(server_url=server.url, temperature=0.7)  # not a server field: same client
    assert llm.server_status()["state"] == "backoff" and local.settings.temperature == 0.7
    llm.settings = LlmSettings(server_url=server.url, server_timeout_s=0.5)
    assert llm.server_status()["state"] == "unknown"
    llm.settings = LlmSettings()
    assert llm.server is None and llm.server_status() == {"url": None, "state": "off"}
    assert list(llm.stream(PROMPT, threading.Event())) == ["Local answer."] and llm.last.fallback == ""


def test_the_status_feature_reports_off_without_a_router():
    assert LlmServerFeature(lambda: object()).status() == {"url": None, "state": "off"}
    llm, _ = router("http://gpu-box.lan:8080/v1")
    part = LlmServerFeature(lambda: llm).status()
    assert part is not None and part["url"] == "http://gpu-box.lan:8080/v1" and part["state"] == "unknown"


def test_a_live_model_swap_replaces_the_local_model_behind_the_router():
    from types import SimpleNamespace

    from appliance.models.swap.roles import LlmRole

    llm, old = router("http://gpu-box.lan:8080/v1")
    engines = SimpleNamespace(llm=llm)
    core = SimpleNamespace(llm=llm, pipeline=SimpleNamespace(llm=llm))
    new = FakeLocal(old.settings)
    LlmRole().install(new, core, engines)  # type: ignore[arg-type]
    assert engines.llm is core.llm is core.pipeline.llm is llm  # the router, with its server and health, stays
    assert llm.local is new


def test_the_status_text_shows_the_server_and_who_answered():
    from appliance.cli.oneshot import _status_text

    status = {
        "stage": "idle",
        "muted": False,
        "wake_words": ["hey_jarvis"],
        "sensitivity": 0.5,
        "capture": {"available": True, "device": "mic"},
        "volume": 80,
        "uptime_s": 10.0,
        "turns": 1,
        "healthy": True,
        "llm_server": {"url": "http://gpu-box.lan:8080/v1", "state": "backoff", "last_error": "server-timeout"},
        "last_turn": {"outcome": "answered", "transcript": "hi", "reply": "Hello.", "llm_backend": "local"},
    }
    status["llm_server"]["retry_in_s"] = 4.6
    text = _status_text(status)
    assert "llm server backoff (server-timeout) http://gpu-box.lan:8080/v1, retry in 5 s" in text
    assert "last turn  answered [local]: 'hi' -> 'Hello.'" in text
    status["llm_server"] = {"url": None, "state": "off"}
    assert "llm server" not in _status_text(status)


def test_the_prompt_work_stays_on_the_local_model_while_a_server_answers(server):
    from .fakes import FakeLlm

    local = FakeLlm()
    local.settings = LlmSettings(server_url=server.url, system_prompt="Be brief.")
    llm = RoutedLlm(local, local.settings)
    assert llm.name == "fake-llm" and llm.system_messages() == [{"role": "system", "content": "Be brief."}]
    llm.warm_up()
    cancel = llm.start_prefill(PROMPT)
    deadline = time.monotonic() + 5
    while len(local.prefills) < 2:
        assert time.monotonic() < deadline, "the prefill thread did not run"
        time.sleep(0.01)
    assert local.prefills == [llm.system_messages(), PROMPT] and not cancel.is_set()
    assert llm.count_tokens("two words") == 2 and llm.score_continuations(PROMPT, ["a", "b"]) == [0.0, 0.0]
    assert not server.requests  # none of it went to the server


def test_a_server_still_writing_at_the_reply_deadline_ends_the_reply_and_no_model_starts_over(server):
    def respond(h) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        try:
            h.wfile.write(sse_chunk().encode())
            while not server.release.wait(0.05):  # a sentence every 50 ms, never an end
                h.wfile.write(sse_chunk("On and on. ").encode())
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    server.respond = respond
    llm, local = router(server.url, reply_max_s=1.0, max_tokens=4096)
    start = time.monotonic()
    said = list(llm.stream(PROMPT, threading.Event()))
    assert time.monotonic() - start < 1.5 and said and all(s == "On and on. " for s in said)  # whole sentences
    assert local.calls == 0 and (llm.last.backend, llm.last.fallback) == ("server", "server-deadline")
