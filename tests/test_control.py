"""The command layer and the control socket, against a stub appliance (orchestration only)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import pytest

from appliance.control.commands import Commands
from appliance.control.local_socket import ControlClient, ControlServer
from appliance.core.errors import CommandError, ControlError

from .fakes import FakeControl, until


@pytest.fixture
def control() -> FakeControl:
    return FakeControl(reply="Paris.")


@pytest.fixture
def commands(control: FakeControl) -> Commands:
    return Commands(control)


async def test_commands_change_state(commands, control):
    app = control
    assert await commands.execute("mute", {"state": "ON"}) == {"muted": True}
    assert await commands.execute("mute", {"state": "toggle"}) == {"muted": False}
    assert await commands.execute("volume", {"level": 30}) == {"volume": 30}
    assert app.volume == 30
    assert await commands.execute("sensitivity", {"value": 0.7}) == {"sensitivity": 0.7, "threshold": 0.3}
    assert app.threshold == 0.3
    assert await commands.execute("wake_word", {"models": ["alexa", "hey_jarvis"]}) == {
        "models": ["alexa", "hey_jarvis"]
    }
    result = await commands.execute("ask", {"text": "Capital of France?", "speak": False})
    assert result["reply"] == "Paris."
    assert (await commands.execute("say", {"text": "Hello"}))["outcome"] == "answered"
    await commands.execute("restart")
    assert app.restarts == 1


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("volume", {"level": 101}, "bad-arguments"),
        ("volume", {"level": "loud"}, "bad-arguments"),
        ("mute", {"state": "maybe"}, "bad-arguments"),
        ("say", {"text": ""}, "bad-arguments"),
        ("say", {"text": "x" * 5000}, "too-long"),
        ("say", {}, "bad-arguments"),
        ("wake_word", {"models": ["computer"]}, "bad-arguments"),
        ("sensitivity", {"value": 2}, "bad-arguments"),
        ("volume", {"level": "²"}, "bad-arguments"),
        ("volume", {"level": "٣"}, "bad-arguments"),
        ("sensitivity", {"value": "nan"}, "bad-arguments"),
        ("wake_word", {"models": ["alexa"] * 300}, "too-long"),
        ("format_disk", {}, "unknown-command"),
    ],
)
async def test_bad_arguments_get_coded_errors(commands, name, args, code):
    with pytest.raises(CommandError) as info:
        await commands.execute(name, args)
    assert info.value.code == code


async def test_listen_is_refused_while_muted(commands):
    await commands.execute("mute", {"state": "on"})
    with pytest.raises(CommandError, match="muted"):
        await commands.execute("listen")


async def test_socket_round_trip_and_bad_requests(commands):
    path = Path(tempfile.mkdtemp()) / "control.sock"
    server = ControlServer(path, commands)
    await server.start()
    try:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        client = ControlClient(path, timeout=5)
        result = await asyncio.to_thread(client.call, "volume", {"level": 12})
        assert result == {"volume": 12}
        with pytest.raises(ControlError) as info:
            await asyncio.to_thread(client.call, "volume", {"level": -1})
        assert info.value.code == "bad-arguments"
        reader, writer = await asyncio.open_unix_connection(str(path))
        for line, code in ((b"not json\n", "bad-json"), (b'{"no": "cmd"}\n', "bad-request"), (b"[1]\n", "bad-request")):
            writer.write(line)
            reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
            assert reply["ok"] is False and reply["error"]["code"] == code
        writer.write(b'{"id": 7, "cmd": "status"}\n')
        reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
        assert reply == {"id": 7, "ok": True, "result": {"muted": False, "volume": 12}}
        writer.close()
    finally:
        await server.close()
    assert not path.exists()
    with pytest.raises(ControlError, match="no daemon"):
        ControlClient(path).call("status")


async def test_guards_refuse_before_the_command_runs(commands, control):
    def locked(name, args):
        if args.get("state") == "OFF":
            raise CommandError("muted-by-switch", "the switch holds the mute")

    commands.add_guard("mute", locked)
    assert await commands.execute("mute", {"state": "ON"}) == {"muted": True}
    with pytest.raises(CommandError) as info:
        await commands.execute("mute", {"state": "OFF"})
    assert info.value.code == "muted-by-switch" and control.muted


async def test_wake_word_lists_are_deduplicated(commands, control):
    assert await commands.execute("wake_word", {"models": ["alexa", "alexa", "hey_jarvis"]}) == {
        "models": ["alexa", "hey_jarvis"]
    }
    assert control.wake_words == ("alexa", "hey_jarvis")


async def test_the_socket_decodes_like_mqtt_and_can_be_narrowed(commands):
    from appliance.control.authorization import socket_policy

    server = ControlServer(Path(tempfile.mkdtemp()) / "c.sock", commands, socket_policy(("status", "timer.*")))
    deep = b'{"cmd": "status", "args": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    cases = [
        (b'{"cmd": "say", "args": {"text": "hi \\ud800"}}', "bad-payload"),
        (deep, "bad-payload"),
        (json.dumps({"cmd": "status", "id": "x" * 500}).encode(), "bad-payload"),
        (b'{"cmd": "restart"}', "forbidden"),
        (b"\xff\xfe", "bad-payload"),
    ]
    for line, code in cases:
        reply = await server.handle_line(line)
        assert reply["ok"] is False and reply["error"]["code"] == code, (line[:40], reply)
    assert (await server.handle_line(b'{"id": 1, "cmd": "status"}'))["ok"]


async def test_the_socket_caps_its_clients_and_closes_idle_ones(commands):
    """Past ``max_clients`` a client gets a coded line and is closed; an idle one is closed after the
    timeout, but a command that runs longer than it is still answered."""
    released = asyncio.Event()

    async def slow(args):
        await released.wait()
        return {"done": True}

    commands.register("slow", slow)
    path = Path(tempfile.mkdtemp()) / "control.sock"
    server = ControlServer(path, commands, idle_timeout_s=0.3, max_clients=2)
    await server.start()
    try:
        busy = await asyncio.open_unix_connection(str(path))
        idle = await asyncio.open_unix_connection(str(path))
        busy[1].write(b'{"id": 1, "cmd": "slow"}\n')
        extra_reader, _extra = await asyncio.open_unix_connection(str(path))
        refused = json.loads(await asyncio.wait_for(extra_reader.readline(), 5))
        assert refused["ok"] is False and refused["error"]["code"] == "too-many-clients"
        assert await asyncio.wait_for(extra_reader.read(), 5) == b""  # and closed
        assert await asyncio.wait_for(idle[0].read(), 5) == b""  # closed after 0.3 s without a request
        await until(lambda: server.clients == 1, timeout=5, what="the idle client closed")
        released.set()  # the slow command outlived the idle timeout and is still answered
        assert json.loads(await asyncio.wait_for(busy[0].readline(), 5))["result"] == {"done": True}
        client = ControlClient(path, timeout=5)
        assert await asyncio.to_thread(client.call, "volume", {"level": 9}) == {"volume": 9}
        for _reader, writer in (busy, idle):
            writer.close()
    finally:
        await server.close()
