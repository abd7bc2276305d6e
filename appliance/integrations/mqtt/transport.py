"""How the client reaches the broker: the password file, TLS, socket options, and why a connection fails."""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path
from typing import Any

from appliance.core.errors import ConfigError
from appliance.settings import MqttSettings


def read_password(path: str) -> str | None:
    """The first line of ``mqtt.password_file`` (None when no file is configured)."""
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()[0] if Path(path).stat().st_size else ""
    except OSError as err:
        raise ConfigError("config-file", f"mqtt.password_file = {path!r} cannot be read: {err.strerror}") from err


def no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """Small command replies go out at once: Nagle plus delayed ACKs held them ~40 ms on loopback."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tls_context(s: MqttSettings) -> ssl.SSLContext:
    """Verify the broker against ``ca_file`` (or the system CAs); optional client certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.ca_file or None)
    if s.cert_file:
        context.load_cert_chain(s.cert_file, s.key_file or None)
    if s.tls_insecure:
        context.check_hostname = False
    return context


def diagnose(s: MqttSettings, port: int) -> str:
    """Why a connection fails, in words (paho does not say): one TCP (+ TLS) attempt of our own."""
    try:
        with socket.create_connection((s.host, port), timeout=3.0) as sock:
            if s.tls:
                with tls_context(s).wrap_socket(sock, server_hostname=s.host):
                    pass
        return "connection failed during the MQTT handshake"
    except ssl.SSLError as err:
        return f"TLS failed: {err.reason or err}"
    except OSError as err:
        return err.strerror or str(err)
