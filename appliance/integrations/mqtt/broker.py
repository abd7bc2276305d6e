"""A private Mosquitto on a free loopback port, from a generated config (tests and ``appliance bench``).

Never used by the daemon itself: it talks to the household's broker.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.core.errors import ApplianceError


@dataclass(frozen=True)
class BrokerTls:
    """Server side of a TLS listener."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """``mosquitto -c <generated conf>``; :meth:`start` returns once the port accepts connections."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        tls: BrokerTls | None = None,
        persistence: bool = False,
        max_packet_size: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.max_packet_size = max_packet_size
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.password_file = password_file
        self.acl_file = acl_file
        self.tls = tls
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"

    def config(self) -> str:
        lines = [f"listener {self.port} {self.host}", f"log_dest file {self.log_path}", "log_type all"]
        lines += ["max_queued_messages 100000", "set_tcp_nodelay true"]
        if self.max_packet_size is not None:  # announced to v5 clients in CONNACK
            lines.append(f"max_packet_size {self.max_packet_size}")
        if os.geteuid() == 0:
            lines.append("user root")  # as root it would switch to 'mosquitto', who cannot read the test files
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca_file}", f"certfile {self.tls.cert_file}", f"keyfile {self.tls.key_file}"]
        if self.persistence:
            store = self.workdir / "store"
            store.mkdir(parents=True, exist_ok=True)
            lines += ["persistence true", f"persistence_location {store}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise ApplianceError("mosquitto-missing", "mosquitto is not installed (scripts/setup --dev installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config())
        with open(self.workdir / "mosquitto.out", "ab") as out:  # start-up errors, before the log file opens
            self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.proc.poll() is not None:
                early = (self.workdir / "mosquitto.out").read_text(errors="replace")
                raise ApplianceError("mosquitto-failed", f"mosquitto exited: {(early + self.log())[-1500:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise ApplianceError("mosquitto-failed", f"mosquitto did not listen on {self.port} in {timeout} s")
            time.sleep(0.05)
        return self

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the broker saves its persistent state) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
