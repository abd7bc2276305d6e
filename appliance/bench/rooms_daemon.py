"""The rooms bench's moving parts: ``appliance run`` daemons, the one writer that feeds them all in
real time, and the bench's own MQTT subscriber.

Each daemon is ``appliance --config <its toml> run --input - --output -`` in a state dir of its
own (the shared models linked in), optionally under libfaketime.  The writer sends every daemon
its 20 ms frame in the same pass, so the same utterance reaches all of them at the same moment,
and notes when chosen samples (the end of the wake word) were written.  The subscriber timestamps
every claim, election and timer message on arrival.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.bench.stream import FRAME, parse_turn
from appliance.control.local_socket import ControlClient

WAKE_LINE = re.compile(r"Wake word (\S+) \(([\d.]+)\) at ([\d.]+) s")
BASE_TOPIC = "appliance"


def faketime_command(offset: str) -> list[str] | None:
    """``faketime -f <offset>`` (libfaketime), or None where it is not installed."""
    binary = shutil.which("faketime")
    return [binary, "-f", offset] if binary else None


def daemon_config(device: str, area: str, state: Path, runtime: Path, port: int, window_ms: int | None = None) -> str:
    """The TOML of one appliance of the bench: its id and area, the broker, memory and metrics off."""
    window = [f"window_ms = {window_ms}"] if window_ms is not None else []
    return "\n".join(
        [
            "[device]",
            f'id = "{device}"',
            "[paths]",
            f'state_dir = "{state}"',
            f'runtime_dir = "{runtime}"',
            "[mqtt]",
            'host = "127.0.0.1"',
            f"port = {port}",
            "discovery = false",
            "[rooms]",
            "enabled = true",
            f'area = "{area}"',
            *window,
            "[memory]",
            "enabled = false",
            "[metrics]",
            'listen = ""',
            "[log]",
            'level = "info"',
            "",
        ]
    )


@dataclass
class Logged:
    """A daemon log line the bench acts on, with when the bench read it (monotonic seconds)."""

    at: float
    kind: str
    """``wake`` (a wake word detected) or ``turn`` (a turn ended)."""
    data: dict[str, Any]


class RoomDaemon:
    """One appliance process; its stderr read for wake words and finished turns."""

    def __init__(
        self,
        device: str,
        work: Path,
        models_dir: Path,
        port: int,
        *,
        prefix: list[str] | None = None,
        window_ms: int | None = None,
    ) -> None:
        self.device = device
        root = work / device
        self.state, self.runtime = root / "state", root / "run"
        self.state.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)
        if not (self.state / "models").exists():
            (self.state / "models").symlink_to(models_dir)
        self.config = root / "appliance.toml"
        self.config.write_text(daemon_config(device, device, self.state, self.runtime, port, window_ms))
        self.log_path = root / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [*(prefix or []), sys.executable, "-m", "appliance", "--config", str(self.config)]
        cmd += ["run", "--input", "-", "--output", "-"]
        pipe = subprocess.PIPE
        # a session of its own: faketime runs the daemon as its child, and stop() signals both
        self.proc = subprocess.Popen(cmd, env=env, stdin=pipe, stdout=pipe, stderr=pipe, start_new_session=True)
        self.ready = threading.Event()
        self.logged: list[Logged] = []
        self.tail: list[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._drain_stdout, name=f"bench-{device}-out", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"bench-{device}-err", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while os.read(fd, 65536):
            pass

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        with self.log_path.open("w", encoding="utf-8", buffering=1) as saved:
            for raw in self.proc.stderr:
                now = time.monotonic()
                line = raw.decode("utf-8", "replace").rstrip()
                saved.write(f"{now:.3f} {line}\n")
                self.tail = [*self.tail[-30:], line]
                if "Ready: listening" in line:
                    self.ready.set()
                if (wake := WAKE_LINE.search(line)) is not None:
                    self._add(Logged(now, "wake", {"model": wake[1], "score": float(wake[2]), "at_s": float(wake[3])}))
                elif (turn := parse_turn(line)) is not None:
                    self._add(Logged(now, "turn", turn))

    def _add(self, item: Logged) -> None:
        with self._lock:
            self.logged.append(item)

    def since(self, at: float, kind: str) -> list[Logged]:
        """Log events of ``kind`` the bench read at or after ``at``."""
        with self._lock:
            return [item for item in self.logged if item.at >= at and item.kind == kind]

    def call(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """One control-socket command (the daemon's coded error raises)."""
        return ControlClient(self.runtime / "control.sock", timeout=10.0).call(cmd, args)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(10)
        for reader in self._readers:
            reader.join(timeout=5)


class RoomFeed(threading.Thread):
    """Writes every daemon's 20 ms frame in one pass, in real time; room noise whenever nothing is queued."""

    def __init__(self, daemons: Mapping[str, RoomDaemon], idle_dbfs: float) -> None:
        super().__init__(name="bench-feed", daemon=True)
        self.daemons = dict(daemons)
        self.idle_dbfs = dict.fromkeys(self.daemons, idle_dbfs)
        """Each room's noise between trials: the level of its last trial."""
        self.stopped = threading.Event()
        self.broken: set[str] = set()
        self._queue: queue.Queue[tuple[dict[str, np.ndarray], dict[str, int], dict[str, float]]] = queue.Queue()
        self._rng = np.random.default_rng(11)

    def play(self, audio: Mapping[str, np.ndarray], marks: Mapping[str, int]) -> dict[str, float]:
        """Queue one stretch per daemon (equal lengths); the dict fills with when each marked sample was written
        (monotonic seconds) and, under ``<mark>_s``, where it lies in the stream (seconds since the first sample:
        the daemons' ``at_s``)."""
        written: dict[str, float] = {}
        self._queue.put((dict(audio), dict(marks), written))
        return written

    def _idle_frame(self, device: str) -> np.ndarray:
        noise = self._rng.standard_normal(FRAME) * 32768.0 * 10 ** (self.idle_dbfs[device] / 20)
        return np.clip(np.round(noise), -32768, 32767).astype("<i2")

    def run(self) -> None:
        current: dict[str, np.ndarray] | None = None
        marks: dict[str, int] = {}
        written_at: dict[str, float] = {}
        pos, written, total, t0 = 0, 0, 0, time.monotonic()
        while not self.stopped.is_set():
            if current is None or pos >= len(next(iter(current.values()))):
                current = None
                try:
                    current, marks, written_at = self._queue.get_nowait()
                    pos = 0
                except queue.Empty:
                    pass
            now = time.monotonic()
            if current is not None:
                frames = {d: a[pos : pos + FRAME].astype("<i2") for d, a in current.items()}
                for name, offset in marks.items():
                    if pos <= offset < pos + FRAME:
                        written_at[f"{name}_s"] = (total + offset - pos) / SAMPLE_RATE
                        written_at[name] = now + (offset - pos) / SAMPLE_RATE
                pos += FRAME
            else:
                frames = {d: self._idle_frame(d) for d in self.daemons}
            for device, daemon in self.daemons.items():
                frame = frames.get(device)
                if device in self.broken or frame is None:
                    continue
                try:
                    daemon.stdin.write(frame.tobytes())
                    daemon.stdin.flush()
                except (BrokenPipeError, ValueError, OSError):
                    self.broken.add(device)
            samples = len(next(iter(frames.values()))) if frames else FRAME  # a stretch's last frame may be short
            written += samples
            total += samples
            delay = t0 + written / SAMPLE_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5:  # fell far behind (the machine stalled): carry on from now
                t0, written = time.monotonic(), 0


@dataclass
class Message:
    topic: str
    payload: Any
    at: float
    """Monotonic seconds the bench's subscriber received it."""
    wall: float
    """The bench's wall clock then (Unix seconds)."""


class Observer:
    """The bench's own MQTT client on the broker: claims, elections and timer events, timed on arrival."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-rooms-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.reconnect_delay_set(1, 1)
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.connected = threading.Event()
        topics = [f"{BASE_TOPIC}/rooms/+/claim", f"{BASE_TOPIC}/+/event/election", f"{BASE_TOPIC}/+/event/timer"]
        self.topics = topics
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda c, u, f, rc, p: self.connected.clear()
        self.port = port

    def __enter__(self) -> Observer:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("the bench's MQTT subscriber did not connect")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        client.subscribe([(topic, 0) for topic in self.topics])
        self.connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        now = time.monotonic()
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = None
        with self._lock:
            self.messages.append(Message(msg.topic, payload, now, time.time()))

    def since(self, at: float, suffix: str) -> list[Message]:
        """Messages on topics ending with ``suffix`` received at or after ``at``, in arrival order."""
        with self._lock:
            return [m for m in self.messages if m.at >= at and m.topic.endswith(suffix)]


def device_of(topic: str) -> str:
    """``appliance/<device>/event/...`` -> ``<device>``."""
    parts = topic.split("/")
    return parts[1] if len(parts) > 1 else ""
