"""systemd integration: the units (verify, security rating), sysusers/tmpfiles, and sd_notify from the real daemon."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from appliance.control.local_socket import ControlClient
from appliance.runtime.liveness import Heartbeat, Liveness, audio_alive
from appliance.runtime.systemd import Notifier, status_line, watchdog_interval

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "appliance.service"
MAX_EXPOSURE = 3.0


class NotifyListener:
    """A bound datagram socket standing in for systemd's notify socket; collects (time, line) pairs."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            self.messages.extend((now, line) for line in data.decode().splitlines())

    def lines(self, prefix: str = "") -> list[str]:
        return [line for _, line in list(self.messages) if line.startswith(prefix)]

    def times(self, line: str) -> list[float]:
        return [t for t, text in list(self.messages) if text == line]

    def wait_for(self, line_prefix: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.lines(line_prefix):
            assert time.monotonic() < deadline, f"no {line_prefix!r} within {timeout} s: {self.lines()}"
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.setblocking(False)
        while True:  # what arrived after the collector stopped
            try:
                data = self.sock.recv(4096)
            except OSError:
                break
            self.messages.extend((time.monotonic(), line) for line in data.decode().splitlines())
        self.sock.close()


# -- Notifier, with plain sockets ----------------------------------------------------


def test_notifier_sends_to_a_path_socket(tmp_path):
    listener = NotifyListener(str(tmp_path / "notify"))
    try:
        notifier = Notifier(str(tmp_path / "notify"))
        assert notifier.ready("idle; listening for hey_jarvis")
        assert notifier.watchdog()
        assert notifier.status("speaking") and not notifier.status("speaking")  # repeats are not re-sent
        listener.wait_for("STATUS=speaking", timeout=5)
        assert listener.lines() == ["READY=1", "STATUS=idle; listening for hey_jarvis", "WATCHDOG=1", "STATUS=speaking"]
    finally:
        listener.close()


def test_notifier_reaches_the_abstract_namespace():
    address = f"@appliance-test-{uuid.uuid4().hex}"
    listener = NotifyListener(address)
    try:
        assert Notifier(address).stopping()
        listener.wait_for("STOPPING=1", timeout=5)
    finally:
        listener.close()


def test_notifier_without_systemd_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled and not notifier.ready() and not notifier.watchdog()
    with notifier.extending(every_s=0.01):
        pass


def test_extending_pushes_the_start_timeout_while_loading(tmp_path):
    listener = NotifyListener(str(tmp_path / "notify"))
    try:
        notifier = Notifier(str(tmp_path / "notify"))
        with notifier.extending(every_s=0.05, by_s=2.0):
            deadline = time.monotonic() + 5
            while len(listener.lines("EXTEND_TIMEOUT_USEC=")) < 3:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        sent = len(listener.lines("EXTEND_TIMEOUT_USEC="))
        assert listener.lines("EXTEND_TIMEOUT_USEC=")[0] == "EXTEND_TIMEOUT_USEC=2000000"
        assert notifier.watchdog()  # a later message proves the pump has stopped sending
        listener.wait_for("WATCHDOG=1", timeout=5)
        assert len(listener.lines("EXTEND_TIMEOUT_USEC=")) in (sent, sent + 1)
    finally:
        listener.close()


def test_watchdog_interval(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None


def test_status_line():
    common = {"wake_words": ["hey_jarvis"], "failing": []}
    assert status_line(stage="idle", muted=False, capture=True, **common) == "idle; listening for hey_jarvis"
    assert status_line(stage="speaking", muted=False, capture=True, **common) == "speaking"
    assert status_line(stage="idle", muted=True, capture=True, **common) == "muted"
    assert status_line(stage="idle", muted=False, capture=False, **common) == "idle; no microphone (retrying)"
    failing = status_line(stage="idle", muted=False, capture=True, wake_words=[], failing=["pipeline", "mqtt"])
    assert failing == "unhealthy: pipeline, mqtt not responding"


# -- liveness decisions ---------------------------------------------------------------


def test_heartbeat_counts_an_unanswered_ping_only_after_its_timeout():
    beat = Heartbeat(timeout_s=10.0)
    assert beat.due(answered=0.0)
    beat.send(100.0)
    assert not beat.due(answered=0.0)
    assert beat.alive(answered=0.0, now=105.0)
    assert not beat.alive(answered=0.0, now=110.5)
    assert beat.alive(answered=100.0, now=200.0) and beat.due(answered=100.0)


@pytest.mark.parametrize(
    ("kwargs", "alive"),
    [
        ({"running": True, "heartbeat_age_s": 0.1, "retry_s": 5, "capturing": True, "frame_age_s": 0.1}, True),
        ({"running": False, "heartbeat_age_s": 0.1, "retry_s": 5, "capturing": True, "frame_age_s": 0.1}, False),
        ({"running": True, "heartbeat_age_s": 9.0, "retry_s": 5, "capturing": False, "frame_age_s": 99}, True),
        ({"running": True, "heartbeat_age_s": 11.0, "retry_s": 5, "capturing": False, "frame_age_s": 99}, False),
        ({"running": True, "heartbeat_age_s": 0.1, "retry_s": 5, "capturing": True, "frame_age_s": 6.0}, False),
        ({"running": True, "heartbeat_age_s": 0.1, "retry_s": 5, "capturing": False, "frame_age_s": 60}, True),
    ],
)
def test_audio_alive(kwargs, alive):
    assert audio_alive(**kwargs) is alive


def test_liveness_lists_failing_checks_and_counts_exceptions_as_failures():
    live = Liveness()
    live.add("pipeline", lambda: True)
    live.add("mqtt", lambda: False)
    live.add("broken", lambda: 1 / 0 > 0)
    assert live.failing() == ["mqtt", "broken"]
    live.remove("mqtt")
    live.remove("broken")
    assert live.failing() == [] and live.names == ["pipeline"]


# -- unit files -------------------------------------------------------------------------


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=120)


def add_unit_library(root: Path) -> None:
    """The host's targets and slices under ``root``, for the unit to order itself against."""
    library = root / "usr/lib/systemd/system"
    library.mkdir(parents=True, exist_ok=True)
    for path in Path("/usr/lib/systemd/system").iterdir():
        if path.suffix in (".target", ".slice") and path.is_file() and not path.is_symlink():
            shutil.copy(path, library / path.name)


def verify_root(tmp_path: Path, unit: Path) -> Path:
    """A root with the unit, the unit library and a stand-in for the ExecStart launcher."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(unit, root / "etc/systemd/system/appliance.service")
    add_unit_library(root)
    for name in ("appliance", "python"):  # ExecStart, and ExecStartPre/ExecStopPost
        exe = root / "opt/appliance/current/venv/bin" / name
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    return root


def verify_unit(root: Path) -> None:
    result = analyze("verify", f"--root={root}", str(root / "etc/systemd/system/appliance.service"))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr  # warnings count as failures


def test_unit_passes_systemd_analyze_verify(tmp_path):
    verify_unit(verify_root(tmp_path, UNIT))


def test_verify_catches_a_bad_line(tmp_path):
    broken = tmp_path / "appliance.service"
    broken.write_text(UNIT.read_text().replace("UMask=0077", "UMask=0077\nMemoryMax=lots"))
    with pytest.raises(AssertionError, match="Invalid memory limit"):
        verify_unit(verify_root(tmp_path, broken))


def test_unit_exposure_is_at_most_3(tmp_path):
    result = analyze("security", "--offline=true", "--no-pager", str(UNIT))
    match = re.search(r"Overall exposure level for appliance.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{result.stdout}"
    # systemd's own gate agrees (its threshold is on a 0..100 scale)
    gate = analyze("security", "--offline=true", "--no-pager", f"--threshold={int(MAX_EXPOSURE * 10)}", str(UNIT))
    assert gate.returncode == 0


def test_unit_settings_the_issue_asks_for():
    text = UNIT.read_text()
    assert "StartLimitBurst" not in text  # no permanent lock-out
    for line in (
        "Type=notify",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "RestartForceExitStatus=75",
        "StartLimitIntervalSec=0",
        "ExecStartPre=-/opt/appliance/current/venv/bin/python -m appliance.runtime.restart_backoff wait",
        "ExecStopPost=-/opt/appliance/current/venv/bin/python -m appliance.runtime.restart_backoff stopped",
        "DevicePolicy=closed",
        "DeviceAllow=char-alsa rw",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-gpiochip rw",
        "DeviceAllow=/dev/nvmap rw",
        "UMask=0077",
        "CapabilityBoundingSet=",
        "ProtectSystem=strict",
        "StateDirectory=appliance",
        "MemoryMax=4G",
    ):
        assert f"\n{line}\n" in text, line


def test_sysusers_and_tmpfiles_create_the_user_and_directories(tmp_path):
    root = tmp_path / "root"
    (root / "etc/sysusers.d").mkdir(parents=True)
    (root / "etc/tmpfiles.d").mkdir(parents=True)
    shutil.copy(ROOT / "systemd/appliance.sysusers", root / "etc/sysusers.d/appliance.conf")
    shutil.copy(ROOT / "systemd/appliance.tmpfiles", root / "etc/tmpfiles.d/appliance.conf")
    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True, timeout=60)
    passwd = (root / "etc/passwd").read_text()
    entry = next(line for line in passwd.splitlines() if line.startswith("appliance:"))
    assert entry.endswith(":/var/lib/appliance:/usr/sbin/nologin")
    groups = {line.split(":")[0]: line for line in (root / "etc/group").read_text().splitlines()}
    assert all(groups[g].endswith(":appliance") for g in ("audio", "video", "render", "gpio"))
    if os.geteuid() != 0:
        pytest.skip("chown to the service user needs root")  # the suite runs as root here
    subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create"], check=True, capture_output=True, timeout=60)
    uid = int(entry.split(":")[2])
    state = root / "var/lib/appliance"
    assert state.stat().st_uid == uid and oct(state.stat().st_mode & 0o777) == "0o750"
    assert (state / "backups").is_dir() and (root / "var/cache/appliance").is_dir()


# -- the real daemon under a stand-in notify socket ---------------------------------------


def start_notified_daemon(tmp_path: Path, registry, listener: NotifyListener) -> tuple[subprocess.Popen, Path]:
    runtime = tmp_path / "run"
    env = {
        **os.environ,
        "NOTIFY_SOCKET": listener.address,
        "WATCHDOG_USEC": "2000000",  # ping every second
        "APPLIANCE_DEBUG_HOOKS": "1",
        "APPLIANCE_PATHS_STATE_DIR": str(registry.state_dir),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(runtime),
        "APPLIANCE_AUDIO_RETRY_S": "1",
    }
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "run", "--output", str(tmp_path / "out.wav")],
        env=env,
        stdout=log,
        stderr=log,
    )
    return proc, runtime / "control.sock"


def watchdog_gap(listener: NotifyListener) -> float:
    pings = listener.times("WATCHDOG=1")
    return time.monotonic() - (pings[-1] if pings else 0.0)


@pytest.mark.integration
@pytest.mark.parametrize("loop", ["pipeline", "audio"])
def test_daemon_notifies_ready_feeds_the_watchdog_and_stops_when_a_loop_is_wedged(tmp_path, registry, loop):
    listener = NotifyListener(f"@appliance-test-{uuid.uuid4().hex}")
    proc, sock = start_notified_daemon(tmp_path, registry, listener)
    try:
        listener.wait_for("READY=1", timeout=120)
        before_ready = [line for _, line in listener.messages[: listener.lines().index("READY=1")]]
        assert "STATUS=loading models" in before_ready
        assert any(line.startswith("EXTEND_TIMEOUT_USEC=") for line in before_ready)
        assert ControlClient(sock).available()  # READY means the socket answers
        statuses = listener.lines("STATUS=")  # "idle; no microphone (retrying)" here, "idle; listening…" on a board
        assert any(line.startswith("STATUS=idle; ") for line in statuses), statuses
        ready_at = listener.times("READY=1")[0]
        deadline = time.monotonic() + 10
        while len([t for t in listener.times("WATCHDOG=1") if t > ready_at]) < 3:
            assert time.monotonic() < deadline, listener.lines()
            time.sleep(0.1)
        assert ControlClient(sock).call("status")["healthy"] is True

        assert ControlClient(sock).call("debug.wedge", {"loop": loop}) == {"wedged": loop}
        deadline = time.monotonic() + 20
        while watchdog_gap(listener) < 4.0:  # systemd (WatchdogSec=2s) would have killed it by now
            assert time.monotonic() < deadline, "the watchdog is still being fed"
            time.sleep(0.1)
        listener.wait_for(f"STATUS=unhealthy: {loop} not responding", timeout=5)
        status = ControlClient(sock).call("status")
        assert status["healthy"] is False and status["failing"] == [loop]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        listener.close()
    assert code == 0, (tmp_path / "daemon.log").read_text()[-3000:]
    assert "STOPPING=1" in listener.lines()
