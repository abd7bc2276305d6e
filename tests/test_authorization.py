"""The MQTT command allowlist (pure)."""

from __future__ import annotations

import pytest

from appliance.control.authorization import CommandPolicy, matches
from appliance.core.errors import CommandError

DEFAULT = CommandPolicy.remote()


@pytest.mark.parametrize(
    "name",
    ["say", "ask", "listen", "stop", "mute", "volume", "wake_word", "sensitivity", "status", "timer.set",
     "timers.list", "alarm.cancel", "reminder.add", "list.add"],
)  # fmt: skip
def test_the_remote_defaults_are_allowed(name):
    assert DEFAULT.permits(name)


@pytest.mark.parametrize(
    "name",
    ["memory.list", "memory.forget", "memory.export", "camera", "snapshot", "reload", "restart", "debug.dump",
     "home.devices", "fly", "timer", "memory"],
)  # fmt: skip
def test_the_rest_is_forbidden_until_opted_in(name):
    with pytest.raises(CommandError) as info:
        DEFAULT.check(name)
    assert info.value.code == "forbidden" and "mqtt.allowed_commands" in info.value.message


def test_opt_ins_disabled_commands_and_remote_listen():
    policy = CommandPolicy.remote(extra=["memory.*", "restart"], disabled=["volume", "timer.*"], allow_listen=False)
    assert policy.permits("memory.list") and policy.permits("restart") and not policy.permits("reload")
    for name, code in (("volume", "disabled"), ("timer.set", "disabled"), ("listen", "forbidden")):
        with pytest.raises(CommandError) as info:
            policy.check(name)
        assert info.value.code == code


def test_patterns():
    assert matches("timer.set", "timer.*") and not matches("timer", "timer.*") and not matches("timers.list", "timer.*")
    assert matches("anything", "*")
