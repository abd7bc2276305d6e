"""The LAN LLM client on a tiny scripted HTTP server: SSE decoding, coded failures, deadlines, the key.

Orchestration tests: the real llama_cpp.server runs in tests/test_llm_route.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from appliance.core.errors import ConfigError
from appliance.engines.llm.chat_stream import ChatStreamDecoder, LlmServerError
from appliance.engines.llm.server import PIECE_SLACK, ServerEndpoint, ServerLlm, read_key
from appliance.settings import LlmSettings

from .fakes import ScriptedLlmServer, sse_chunk, sse_reply

KEY = "sk-test-0123456789"
send = ScriptedLlmServer.send
chunk = sse_chunk
sse = sse_reply


@pytest.fixture
def fake_server() -> Iterator[tuple[str, ScriptedLlmServer]]:
    with ScriptedLlmServer() as server:
        yield server.url, server


def client(url: str, **settings: object) -> ServerLlm:
    return ServerLlm.from_settings(LlmSettings(server_url=url, **settings))  # type: ignore[arg-type]


def collect(llm: ServerLlm, **kwargs: float) -> list[str]:
    return list(llm.stream([{"role": "user", "content": "hello"}], threading.Event(), **kwargs))


# -- the decoder (pure) ------------------------------------------------------------------
def test_decoder_reads_deltas_and_ignores_comments_roles_and_other_fields():
    d = ChatStreamDecoder()
    lines = (": keep-alive\r\n" + "event: message\nid: 7\n" + chunk() + chunk("Hel") + chunk("lo")).splitlines()
    texts = [t for line in lines for t in d.feed(line)]
    assert texts == ["Hel", "lo"] and not d.finished
    assert d.feed("data: [DONE]") == [] and d.feed("") == [] and d.finished


def test_decoder_joins_multi_line_data_and_reads_usage_and_finish_reason():
    d = ChatStreamDecoder()
    texts = d.feed('data: {"choices": [{"delta": {"content": "ok"},') + d.feed('data: "finish_reason": "length"}],')
    texts += d.feed('data: "usage": {"prompt_tokens": 12, "completion_tokens": 3}}') + d.feed("")
    assert texts == ["ok"] and d.finish_reason == "length" and (d.prompt_tokens, d.completion_tokens) == (12, 3)
    assert ChatStreamDecoder().chunk({"choices": [{"message": {"content": "whole"}}]}) == ["whole"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("not json", "server-bad-response"),
        ("[1, 2]", "server-bad-response"),
        ('{"error": {"message": "x"}}', "server-error"),
    ],
)
def test_decoder_codes_what_it_cannot_use(data: str, code: str):
    with pytest.raises(LlmServerError) as info:
        ChatStreamDecoder().event(data)
    assert info.value.code == code


# -- the client on the scripted server ----------------------------------------------------------
def test_streams_text_and_sends_the_openai_request(fake_server, tmp_path: Path):
    url, script = fake_server
    key = tmp_path / "llm.key"
    key.write_text(KEY + "\n")
    script.respond = lambda h: send(h, 200, ": ping\n\n" + sse("The sky", " is blue.", " Yes."))
    llm = client(url, server_api_key_file=str(key), server_model="qwen", max_tokens=33)
    assert collect(llm) == ["The sky", " is blue.", " Yes."]
    request = script.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == f"Bearer {KEY}"
    body = request["body"]
    assert isinstance(body, dict)
    assert (body["model"], body["stream"], body["max_tokens"]) == ("qwen", True, 33)
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert llm.last.backend == "server" and llm.last.completion_tokens == 3 and llm.last.first_token_s > 0
    assert KEY not in repr(llm.endpoint) and KEY not in repr(llm.__dict__)


def test_a_server_that_ignores_stream_is_read_whole(fake_server):
    url, script = fake_server
    whole = json.dumps({"choices": [{"message": {"content": "All at once."}, "finish_reason": "stop"}]})
    script.respond = lambda h: send(h, 200, whole, "application/json")
    assert collect(client(url)) == ["All at once."]


def test_finish_reason_without_done_is_a_complete_reply(fake_server):
    url, script = fake_server
    script.respond = lambda h: send(h, 200, sse("Fine.", done=False))
    assert collect(client(url)) == ["Fine."]


@pytest.mark.parametrize(
    ("respond", "code"),
    [
        (lambda h: send(h, 401, '{"detail": "Invalid API key"}', "application/json"), "server-http-401"),
        (lambda h: send(h, 500, "boom", "text/plain"), "server-http-500"),
        (lambda h: send(h, 200, chunk("Half a") + chunk(" sentence")), "server-closed"),  # no finish, no [DONE]
        (lambda h: send(h, 200, "data: <html>\n\n"), "server-bad-response"),
        (lambda h: send(h, 200, 'data: {"error": {"message": "model not found"}}\n\n'), "server-error"),
    ],
)
def test_failures_are_coded(fake_server, respond, code: str):
    url, script = fake_server
    script.respond = respond
    with pytest.raises(LlmServerError) as info:
        collect(client(url))
    assert info.value.code == code


def test_nothing_listening_is_unreachable_at_once():
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(LlmServerError) as info:
        collect(client(f"http://127.0.0.1:{port}/v1"))
    assert info.value.code == "server-unreachable" and time.monotonic() - start < 1.0


def test_a_silent_server_misses_the_first_token_deadline(fake_server):
    url, script = fake_server
    script.respond = lambda h: script.release.wait(10)  # accepts, reads the request, says nothing
    start = time.monotonic()
    with pytest.raises(LlmServerError) as info:
        collect(client(url, server_timeout_s=0.4))
    elapsed = time.monotonic() - start
    assert info.value.code == "server-timeout" and 0.35 < elapsed < 1.0


def test_a_stall_after_the_first_piece_is_coded_stalled(fake_server):
    url, script = fake_server

    def respond(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, chunk() + chunk("Still"))
        h.wfile.flush()
        script.release.wait(10)

    script.respond = respond
    got: list[str] = []
    with pytest.raises(LlmServerError) as info:
        for piece in client(url, server_timeout_s=0.3).stream([], threading.Event()):
            got.append(piece)
    assert info.value.code == "server-stalled" and got == ["Still"]


def test_cancel_ends_a_wait_quietly(fake_server):
    url, script = fake_server
    script.respond = lambda h: script.release.wait(10)
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    start = time.monotonic()
    assert list(client(url, server_timeout_s=5.0).stream([], cancel)) == []
    assert time.monotonic() - start < 1.0


def test_the_key_file_is_read_once_and_never_shown(tmp_path: Path):
    key = tmp_path / "k"
    key.write_text(f"  {KEY}  \n\n")
    assert read_key(str(key)) == KEY
    endpoint = ServerEndpoint.from_settings(
        LlmSettings(server_url="https://box.lan/llm/v1/", server_api_key_file=str(key))
    )
    assert (endpoint.host, endpoint.port, endpoint.base_path, endpoint.url) == (
        "box.lan",
        443,
        "/llm/v1",
        "https://box.lan/llm/v1",
    )
    assert KEY not in repr(endpoint)
    key.write_text("two words\n")
    with pytest.raises(ConfigError) as info:
        read_key(str(key))
    assert "server_api_key_file" in info.value.message and "two" not in info.value.message


def test_a_server_that_echoes_the_key_never_gets_it_into_an_error(fake_server, tmp_path: Path):
    url, script = fake_server
    key = tmp_path / "llm.key"
    key.write_text(KEY)
    script.respond = lambda h: send(h, 200, f'data: {{"error": {{"message": "bad key {KEY}"}}}}\n\n')
    with pytest.raises(LlmServerError) as info:
        collect(client(url, server_api_key_file=str(key)))
    assert info.value.code == "server-error" and KEY not in str(info.value) and "bad key ***" in info.value.message


# -- bounds: a server that does not stop ------------------------------------------------------
def stream_pieces(script: ScriptedLlmServer, pieces: Iterator[str], pause_s: float = 0.0):
    """A respond that streams ``pieces`` (an endless iterator, say) until the client goes away."""

    def respond(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        try:
            for piece in pieces:
                h.wfile.write(piece.encode())
                if pause_s:
                    h.wfile.flush()
                    if script.release.wait(pause_s):
                        return
        except (BrokenPipeError, ConnectionResetError):
            return

    return respond


def endless(text: str) -> Iterator[str]:
    while True:
        yield chunk(text)


def test_a_server_that_ignores_max_tokens_is_cut_off(fake_server):
    url, script = fake_server
    script.respond = stream_pieces(script, endless(" word"))
    got: list[str] = []
    with pytest.raises(LlmServerError) as info:
        for piece in client(url, max_tokens=20).stream([], threading.Event()):
            got.append(piece)
    assert info.value.code == "server-too-long" and len(got) == 20 + PIECE_SLACK
    assert script.requests[0]["body"]["max_tokens"] == 20


def test_one_endless_piece_is_cut_off_by_its_characters(fake_server):
    url, script = fake_server
    script.respond = stream_pieces(script, endless("x" * 500))
    with pytest.raises(LlmServerError) as info:
        collect(client(url, max_tokens=4))
    assert info.value.code == "server-too-long"


def test_a_stream_of_nothing_but_keep_alives_is_cut_off_by_its_bytes(fake_server):
    url, script = fake_server

    def comments() -> Iterator[str]:
        yield chunk("Hm.")
        while True:
            yield ": keep-alive " + "." * 1000 + "\n"

    script.respond = stream_pieces(script, comments())
    start = time.monotonic()
    with pytest.raises(LlmServerError) as info:
        collect(client(url, max_tokens=10))
    assert info.value.code == "server-too-long" and time.monotonic() - start < 5.0


def test_the_reply_deadline_ends_a_server_that_never_pauses_long(fake_server):
    url, script = fake_server
    script.respond = stream_pieces(script, endless("Again. "), pause_s=0.05)  # well inside the stall deadline
    got: list[str] = []
    start = time.monotonic()
    with pytest.raises(LlmServerError) as info:
        for piece in client(url, reply_max_s=1.0, max_tokens=4096).stream([], threading.Event()):
            got.append(piece)
    elapsed = time.monotonic() - start
    assert info.value.code == "server-deadline" and 1.0 <= elapsed < 1.5 and got


def test_the_reader_stays_a_queue_ahead_of_a_slow_reply(fake_server):
    url, script = fake_server
    sent = [0]

    def counted() -> Iterator[str]:
        while True:
            sent[0] += 1
            yield chunk(" word")

    script.respond = stream_pieces(script, counted())
    stream = client(url, max_tokens=4096).stream([], threading.Event())
    next(stream)  # then the reply is busy elsewhere: the reader must wait, and TCP makes the server wait
    samples = [sent[0]]
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not (len(samples) > 2 and samples[-1] == samples[-2] == samples[-3]):
        time.sleep(0.2)
        samples.append(sent[0])
    stream.close()
    assert samples[-1] == samples[-2] == samples[-3], samples  # blocked, not read into memory without bound
