"""Topic layout, command payload decoding, reply-topic checks, expiry and packet sizes (pure)."""

from __future__ import annotations

import json

import pytest

from appliance.core.errors import CommandError
from appliance.integrations.mqtt.topics import (
    Topics,
    check_reply_topic,
    command_deadline,
    decode_command,
    packet_size,
)

T = Topics.for_device("appliance", "kitchen", "homeassistant")


def test_topic_layout():
    assert T.availability == "appliance/kitchen/availability"
    assert T.state("mute") == "appliance/kitchen/state/mute"
    assert T.event("wake") == "appliance/kitchen/event/wake"
    assert T.command("say") == "appliance/kitchen/cmd/say"
    assert T.reply("ask") == "appliance/kitchen/cmd/ask/reply"
    assert T.command_filter == "appliance/kitchen/cmd/+"
    assert T.discovery == "homeassistant/device/kitchen/config"
    assert T.ha_status == "homeassistant/status"
    assert T.command_name("appliance/kitchen/cmd/volume") == "volume"
    assert T.command_name("appliance/kitchen/cmd/ask/reply") is None
    assert T.command_name("appliance/other/cmd/volume") is None


@pytest.mark.parametrize(
    ("name", "payload", "args"),
    [
        ("volume", b"42", {"level": 42}),
        ("volume", b'{"level": 30}', {"level": 30}),
        ("mute", b"ON", {"state": "ON"}),
        ("mute", b"toggle", {"state": "toggle"}),
        ("say", b"Dinner is ready", {"text": "Dinner is ready"}),
        ("say", b'"quoted text"', {"text": "quoted text"}),
        ("say", '{"text": "Grüß dich", "volume": 30}'.encode(), {"text": "Grüß dich", "volume": 30}),
        ("wake_word", b"alexa", {"models": "alexa"}),
        ("wake_word", b'["alexa", "hey_jarvis"]', {"models": ["alexa", "hey_jarvis"]}),
        ("sensitivity", b"0.6", {"value": 0.6}),
        ("restart", b"PRESS", {}),
        ("listen", b"", {}),
        ("camera", b"ON", {"value": "ON"}),
    ],
)
def test_plain_and_json_payloads(name, payload, args):
    assert decode_command(T, name, payload).args == args


def test_meta_fields_are_not_arguments():
    req = decode_command(T, "ask", json.dumps({"text": "hi", "reply_to": True, "id": 7, "ts": 1000.5}).encode())
    assert req.args == {"text": "hi"}
    assert (req.reply_to, req.correlation, req.sent_ts) == ("appliance/kitchen/cmd/ask/reply", 7, 1000.5)
    assert decode_command(T, "ask", b'{"text": "hi", "reply_to": "my/replies"}').reply_to == "my/replies"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xfe", "bad-payload"),
        (b'{"text": ', "bad-json"),
        (b"[1, 2", "bad-json"),
        (b'{"text": "x", "ts": "yesterday"}', "bad-payload"),
        (b'{"text": "x", "reply_to": 5}', "bad-payload"),
        (b"x" * (64 * 1024 + 1), "too-long"),
        (b"[1, 2]", "bad-payload"),
    ],
)
def test_bad_payloads_have_codes(payload, code):
    with pytest.raises(CommandError) as info:
        decode_command(T, "say", payload)
    assert info.value.code == code


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "a/#",
        "a/+/b",
        "$SYS/x",
        "homeassistant/device/kitchen/config",
        "home/kitchen/light/set",
        "replies/42",
        "appliance/kitchen/state/mute",  # inside the tree but not a reply topic
        "appliance/kitchenette/x/reply",  # another device's tree
        "nodered/repliesX/1",
        "hi/\ud800",
    ],
)
def test_replies_go_only_to_the_device_tree_or_a_configured_prefix(topic):
    with pytest.raises(CommandError) as info:
        check_reply_topic(topic, root=T.root, prefixes=("nodered/replies",))
    assert info.value.code == "bad-reply-topic"


def test_reply_topic_allowed():
    assert check_reply_topic("appliance/kitchen/cmd/ask/reply", root=T.root) == "appliance/kitchen/cmd/ask/reply"
    assert check_reply_topic("appliance/kitchen/client-7/reply", root=T.root) == "appliance/kitchen/client-7/reply"
    assert check_reply_topic("nodered/replies/42", root=T.root, prefixes=("nodered/replies/",)) == "nodered/replies/42"


def test_deadline_takes_the_earliest_limit():
    # received at monotonic 100, wall clock 5000, 30 s max age
    assert command_deadline(received=100, wall_now=5000, max_age_s=30) == 130
    assert command_deadline(received=100, wall_now=5000, max_age_s=30, expiry_s=5) == 105
    assert command_deadline(received=100, wall_now=5000, max_age_s=30, sent_ts=4990) == 120
    assert command_deadline(received=100, wall_now=5000, max_age_s=30, sent_ts=4900) <= 100  # expired
    # a sender clock ahead of ours never lengthens the window
    assert command_deadline(received=100, wall_now=5000, max_age_s=30, sent_ts=9000) == 130


def test_packet_size_matches_the_wire_format():
    # fixed header (1) + remaining length (1) + topic length (2) + "a/b" (3) + packet id (2) + props (1) + payload
    assert packet_size("a/b", 10) == 1 + 1 + 2 + 3 + 2 + 1 + 10
    assert packet_size("a/b", 10, qos=0, v5=False) == 1 + 1 + 2 + 3 + 10
    assert packet_size("a/b", 200) == 1 + 2 + 2 + 3 + 2 + 1 + 200  # remaining length needs two bytes
    assert packet_size("t", 2_000_000) > 2_000_000
