"""The one inbound decoder: limits, surrogates, ids, and a fuzz run over the MQTT command decoder (pure)."""

from __future__ import annotations

import json
import random
import time

import pytest

from appliance.control import payload
from appliance.core.errors import CommandError
from appliance.integrations.mqtt.topics import Topics, decode_command

T = Topics.for_device("appliance", "kitchen")
CODES = {"bad-payload", "bad-json", "too-long"}


def code_of(fn, *args) -> str:
    with pytest.raises(CommandError) as info:
        fn(*args)
    return info.value.code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"text": "hi \\ud800"}', "bad-payload"),  # a lone surrogate in a value
        (b'{"te\\udfffxt": "hi"}', "bad-payload"),  # ... in a key
        (b'{"text": "hi", "id": "\\ud800"}', "bad-payload"),  # ... in the id
        (b'{"text": "hi", "reply_to": "a/\\ud800"}', "bad-payload"),  # ... in the reply topic
        (b'{"models": ["\\ud83d"]}', "bad-payload"),  # ... in a list
        (b"[" * 5000 + b"]" * 5000, "bad-payload"),  # nested too deep
        (b'{"a":' * 9 + b"1" + b"}" * 9, "bad-payload"),
        (b'{"level": NaN}', "bad-payload"),
        (b'{"models": [' + b",".join([b'"alexa"'] * 7000) + b"]}", "too-long"),  # 7,000 copies in 64 KiB
        (b'{"x": 1' + b"".join(b', "k%d": 1' % i for i in range(70)) + b"}", "too-long"),
        (b"x" * (payload.MAX_BYTES + 1), "too-long"),
        (b"\xff\xfe", "bad-payload"),
        (b'{"level": ', "bad-json"),
        (b'{"text": "hi", "id": true}', "bad-payload"),
        (b'{"text": "hi", "id": {"a": 1}}', "bad-payload"),
        (b'{"text": "hi", "id": "' + b"i" * 129 + b'"}', "bad-payload"),
    ],
)
def test_hostile_payloads_get_a_code(raw, code):
    assert code_of(decode_command, T, "say", raw) == code


def test_accepted_payloads_and_ids():
    assert decode_command(T, "say", b'{"text": "hi \\ud83d\\ude00", "id": "a-1"}').args == {"text": "hi \U0001f600"}
    assert decode_command(T, "say", b'{"text": "x", "id": 7}').correlation == 7
    assert decode_command(T, "say", b'{"text": "x", "id": "' + b"i" * 128 + b'"}').correlation == "i" * 128
    assert decode_command(T, "say", b'{"text": "[not {nesting} inside a string"}').args["text"].startswith("[not")
    assert decode_command(T, "wake_word", b'["alexa", "alexa"]').args == {"models": ["alexa", "alexa"]}
    assert payload.nesting('{"a": [[1], {"b": "]]]]"}]}') == 3


def test_correlation_data_is_capped():
    assert payload.correlation_data(b"x" * 256) == b"x" * 256
    assert code_of(payload.correlation_data, b"x" * 257) == "bad-payload"


def test_encode_never_raises_and_stays_json():
    for value in ({"reply": "hi \ud800"}, {"x": object()}, {"t": float("nan")}, {"a": "\U0001f600"}):
        data = payload.encode(value)
        json.loads(data)
        data.decode("utf-8")
    circular: list = []
    circular.append(circular)
    assert json.loads(payload.encode(circular))["error"]["code"] == "internal-error"


def test_echoed_input_is_short_and_encodable():
    text = payload.shown("\ud800" + "x" * 500)
    assert len(text) <= payload.SHOWN
    text.encode("utf-8")


def fuzz_payloads(rng: random.Random, count: int):
    """Structure-aware JSON (real keys, hostile values) and random bytes, half and half."""
    keys = ["text", "level", "state", "models", "value", "id", "reply_to", "ts", "speak", "\ud800", "x" * 300]
    values = [
        "hi",
        "\ud800",
        "²",
        "٣",
        "",
        " ",
        None,
        True,
        1e308,
        -1,
        2**70,
        [],
        {},
        "a" * 3000,
        ["alexa"] * 200,
        "\x00",
        "\u202e",
    ]
    for i in range(count):
        if i % 2:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
            continue
        obj = {rng.choice(keys): rng.choice(values) for _ in range(rng.randrange(0, 5))}
        for _ in range(rng.randrange(0, 3)):
            obj = {rng.choice(keys): obj} if rng.random() < 0.5 else [obj] * rng.randrange(1, 4)
        text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.2:
            cut = rng.randrange(0, len(text) + 1)
            text = text[:cut]
        yield text.encode("utf-8", "surrogatepass")


def test_ten_thousand_fuzzed_payloads_decode_or_get_a_code():
    rng = random.Random(12)
    start = time.monotonic()
    outcomes: dict[str, int] = {}
    commands = ["say", "ask", "volume", "mute", "wake_word", "sensitivity", "status", "listen", "timer.set"]
    for raw in fuzz_payloads(rng, 10_000):
        name = rng.choice(commands)
        try:
            request = decode_command(T, name, raw)
        except CommandError as err:
            assert err.code in CODES, (raw, err.code)
            outcomes[err.code] = outcomes.get(err.code, 0) + 1
        else:
            payload.encode({"args": request.args, "id": request.correlation})  # a reply can always go out
            outcomes["decoded"] = outcomes.get("decoded", 0) + 1
    elapsed = time.monotonic() - start
    print(f"fuzz: 10000 payloads in {elapsed:.2f} s: {outcomes}")
    assert elapsed < 60 and outcomes.get("decoded", 0) > 100


def test_text_state_with_a_surrogate_still_publishes():
    from appliance.integrations.mqtt.outbound import text_state

    pubs = text_state(T, "reply", "hi \ud800", {}, 1.0)
    assert pubs[0].payload == "hi \ufffd".encode() and json.loads(pubs[1].payload)["text"] == "hi \ud800"
