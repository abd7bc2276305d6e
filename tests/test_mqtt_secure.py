"""A locked-down broker: password file, an ACL limited to the device's prefix, TLS with a CA made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.integrations.mqtt.broker import Mosquitto

from .fakes import until
from .mqtt_support import DEVICE, ROOT, Probe, make_passwords, make_tls, mqtt_settings, running

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]

ACL = """user homeassistant
topic readwrite #

pattern readwrite appliance/%u/#
pattern write homeassistant/device/%u/config
pattern read homeassistant/status
"""


@pytest.fixture
def secure_broker(tmp_path: Path):
    tls = make_tls(tmp_path / "tls")
    passwords = make_passwords(tmp_path / "passwd", {DEVICE: "right horse battery", "homeassistant": "ha-pass"})
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    broker = Mosquitto(tmp_path / "broker", password_file=passwords, acl_file=acl, tls=tls).start()
    yield broker
    broker.stop()


def secret(tmp_path: Path, password: str) -> str:
    path = tmp_path / f"password-{abs(hash(password))}"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return str(path)


def settings_for(tmp_path: Path, broker: Mosquitto, password: str, ca: Path | None = None):
    assert broker.tls is not None
    return mqtt_settings(
        tmp_path / "state",
        broker.port,
        tls=True,
        ca_file=str(ca or broker.tls.ca_file),
        username=DEVICE,
        password_file=secret(tmp_path, password),
    )


def ha_probe(broker: Mosquitto) -> Probe:
    assert broker.tls is not None
    return Probe(broker.port, username="homeassistant", password="ha-pass", ca_file=broker.tls.ca_file)


async def test_right_credentials_connect_over_tls_within_the_acl(tmp_path, secure_broker, engines, registry, caplog):
    settings = settings_for(tmp_path, secure_broker, "right horse battery")
    with ha_probe(secure_broker) as ha:
        async with running(settings, engines, registry) as app:
            assert app.mqtt is not None
            await until(lambda: app.mqtt.connected, what="connected over TLS")
            assert (await ha.next(f"{ROOT}/availability")).payload == b"online"
            await ha.next(f"homeassistant/device/{DEVICE}/config")  # allowed by the ACL's pattern
            start = ha.mark()
            ha.send(f"{ROOT}/cmd/volume", json.dumps({"level": 64, "reply_to": True}))
            reply = await ha.next(f"{ROOT}/cmd/volume/reply", after=start)
            assert reply.json()["result"] == {"volume": 64}
    assert "right horse battery" not in caplog.text  # credentials are never logged
    assert "offline" in [m.payload.decode() for m in ha.on(f"{ROOT}/availability")]


async def test_wrong_password_is_refused_with_one_clear_line_and_no_crash_loop(
    tmp_path, secure_broker, engines, registry, caplog
):
    settings = settings_for(tmp_path, secure_broker, "wrong horse")
    async with running(settings, engines, registry) as app:
        assert app.mqtt is not None
        await until(lambda: "refused" in app.status()["mqtt"]["last_error"], what="refusal noticed")
        await until(lambda: secure_broker.log().count("not authorised") >= 3, timeout=15, what="a few retries")
        result = await app.commands.execute("status", {})
        assert result["mqtt"]["connected"] is False and app.healthy() is not None
        assert app.supervisor.alive("pipeline") and app.supervisor.alive("mqtt-events")
    refusals = [r for r in caplog.records if "refused the connection" in r.getMessage() and r.levelname == "ERROR"]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]  # logged once, not once per retry
    assert "Not authorized" in refusals[0].getMessage() or "Bad user name" in refusals[0].getMessage()
    assert "mqtt.password_file" in refusals[0].getMessage()
    attempts = secure_broker.log().count("not authorised")
    assert attempts <= 15  # backoff, not a tight loop (reconnect_max_s is 2 s in these tests)
    assert "wrong horse" not in caplog.text


async def test_an_unknown_ca_fails_the_tls_handshake_clearly(tmp_path, secure_broker, engines, registry, caplog):
    other = make_tls(tmp_path / "other-ca")
    settings = settings_for(tmp_path, secure_broker, "right horse battery", ca=other.ca_file)
    async with running(settings, engines, registry) as app:
        assert app.mqtt is not None
        await until(lambda: "TLS failed" in app.status()["mqtt"]["last_error"], what="TLS failure reported")
        assert not app.mqtt.connected
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


async def test_an_unreadable_password_file_stops_start_up_as_a_config_error(tmp_path, secure_broker, engines, registry):
    from appliance.core.errors import ConfigError

    settings = mqtt_settings(tmp_path / "state", secure_broker.port, username=DEVICE, password_file="/nonexistent/pw")
    with pytest.raises(ConfigError, match=r"mqtt\.password_file = '/nonexistent/pw' cannot be read"):
        async with running(settings, engines, registry):
            pass
