"""sd_notify with the standard library: READY, STATUS, WATCHDOG, STOPPING, EXTEND_TIMEOUT.

A datagram to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace); nothing happens when the variable is unset, so the daemon runs
the same outside systemd.  The watchdog itself is fed by the app only while
its vital loops are alive (:mod:`appliance.runtime.liveness`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator

_LOGGER = logging.getLogger(__name__)


class Notifier:
    """Talks to systemd through ``$NOTIFY_SOCKET`` (a no-op when not under systemd)."""

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self.address = address
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.last_status = ""
        if address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines; False when not under systemd or the send failed."""
        with self._lock:
            if self._sock is None:
                return False
            try:
                self._sock.sendto("\n".join(lines).encode(), self.address)
                return True
            except OSError as err:
                _LOGGER.debug("sd_notify failed: %s", err)
                return False

    def ready(self, status: str = "") -> bool:
        if status:
            self.last_status = status
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """STATUS=… for `systemctl status`; repeated texts are not sent again."""
        if text == self.last_status:
            return False
        self.last_status = text
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    @contextlib.contextmanager
    def extending(self, *, every_s: float = 10.0, by_s: float = 30.0, at_most_s: float = 900.0) -> Iterator[None]:
        """Keep pushing the start timeout out while a slow step (model loading) runs.

        systemd then waits as long as loading takes, up to ``at_most_s``, but
        still fails a start that hangs past that.
        """
        if not self.enabled:
            yield
            return
        done = threading.Event()

        def pump() -> None:
            waited = 0.0
            while waited < at_most_s and not done.is_set():
                self.extend_timeout(by_s)
                done.wait(every_s)
                waited += every_s

        thread = threading.Thread(target=pump, name="sd-extend", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=1.0)

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, when systemd asked for pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


def status_line(*, stage: str, muted: bool, capture: bool, wake_words: list[str], failing: list[str]) -> str:
    """The one-line STATUS= text shown by `systemctl status appliance`."""
    if failing:
        return f"unhealthy: {', '.join(failing)} not responding"
    if muted:
        return "muted"
    if not capture:
        return f"{stage}; no microphone (retrying)"
    if stage == "idle":
        return f"idle; listening for {', '.join(wake_words)}"
    return stage
