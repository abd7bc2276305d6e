"""The daemon's listeners under a flood (`appliance run` as a process): the metrics endpoint keeps its
thread count and the voice loop its pace under 1,000 half-sent requests; the control socket refuses
clients past its cap with a coded line and closes idle ones."""

from __future__ import annotations

import errno
import json
import resource
import selectors
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.control.local_socket import ControlClient
from appliance.core.errors import ControlError
from appliance.settings import ControlSettings

from .test_daemon import start_daemon, stop

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 4.0
HALF_SENT = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
"""A request line and one header, without the blank line that ends a request."""
FLOOD = 1000
QUESTION = "What is seven times eight?"
"""Answered by the arithmetic skill and spoken: the turn's time is the voice loop's, not the LLM's sampling."""
THREAD_SLACK = 20
TURN_SLACK = 0.2
"""A turn under the flood may take 20 % longer than without it, plus this many seconds of jitter."""
TURN_JITTER_S = 0.3
PAIRS = 3
"""Turns timed with and without the flood, alternated, so a slow moment of the machine falls on both sides;
the fastest of each side is compared, as other processes on the machine only ever add time."""
HOLD_S = 5.0
"""Each round of the flood holds its connections this long before opening the next round."""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, registry) -> Iterator[tuple[int, Path, int]]:
    """(pid, control socket, metrics port) of one daemon with short listener timeouts."""
    _raise_nofile(8192)  # the flood's sockets, in this process and (inherited) in the daemon
    tmp = tmp_path_factory.mktemp("listeners")
    (tmp / "state").mkdir()
    (tmp / "state" / "models").symlink_to(registry.state_dir / "models")
    port = _free_port()
    overrides = {
        "APPLIANCE_METRICS_LISTEN": f"127.0.0.1:{port}",
        "APPLIANCE_METRICS_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
        "APPLIANCE_CONTROL_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in overrides.items():
            patch.setenv(key, value)
        proc, sock, _env = start_daemon(tmp, registry, "--output", str(tmp / "out.wav"), state_dir=tmp / "state")
    try:
        yield proc.pid, sock, port
    finally:
        assert stop(proc) == 0, (tmp / "daemon.log").read_text()[-3000:]


def test_half_sent_metrics_requests_hold_no_threads_and_do_not_slow_a_turn(daemon):
    pid, sock, port = daemon
    client = ControlClient(sock, timeout=120)
    timed_ask(client)  # the first turn warms the caches
    quiet: list[float] = []
    flooded: list[float] = []
    with ThreadWatch(pid) as quiet_threads:
        quiet.append(timed_ask(client))
    with ThreadWatch(pid) as flood_threads:
        for _ in range(PAIRS):
            with Flood(port) as flood:
                flooded.append(timed_ask(client))
            quiet.append(timed_ask(client))
    print(
        f"\nthreads: {quiet_threads.peak} quiet, {flood_threads.peak} under {FLOOD} half-sent requests "
        f"({flood.connected} connected in round {flood.rounds}); turn: fastest {min(quiet):.2f} s quiet {quiet}, "
        f"{min(flooded):.2f} s flooded {flooded}"
    )
    assert flood.rounds >= 1 and flood.connected >= FLOOD * 0.9, "the flood did not reach the endpoint"
    assert flood_threads.peak <= quiet_threads.peak + THREAD_SLACK
    assert min(flooded) <= min(quiet) * (1 + TURN_SLACK) + TURN_JITTER_S
    assert client.call("status")["metrics"]["refused"] > 0  # connections past the cap were closed
    time.sleep(READ_TIMEOUT_S + 0.5)  # the held connections time out
    assert client.call("status")["metrics"]["connections"] == 0
    assert f'appliance_turns_total{{outcome="answered"}} {len(quiet) + len(flooded) + 1}.0' in scrape(port)


def test_control_clients_past_the_cap_are_refused_and_idle_ones_closed(daemon):
    _pid, path, _port = daemon
    cap = ControlSettings().max_clients
    clients = 3000
    started = time.monotonic()
    socks = [_connect_unix(path) for _ in range(clients)]
    connected_s = time.monotonic() - started
    with pytest.raises(ControlError) as refused:  # every slot is taken by an idle client
        ControlClient(path, timeout=10).call("status")
    assert refused.value.code == "too-many-clients"
    answers = _read_until_closed(socks, deadline_s=IDLE_TIMEOUT_S + 10)
    for sock in socks:
        sock.close()
    coded = [a for a in answers if a.lines and a.lines[0].get("error", {}).get("code") == "too-many-clients"]
    idle = [a for a in answers if not a.lines]
    print(f"\ncontrol: {clients} clients in {connected_s:.2f} s, {len(coded)} refused, {len(idle)} held then closed")
    assert len(coded) + len(idle) == clients, [a.lines for a in answers if a.lines and a not in coded][:3]
    assert all(a.closed_after_s is not None for a in answers), "a client was never closed"
    served_rounds = 1 + int(connected_s / IDLE_TIMEOUT_S)  # a slot freed by the timeout takes a new client
    assert cap <= len(idle) <= cap * served_rounds
    held_for = [a.closed_after_s for a in idle if a.closed_after_s is not None]
    assert min(held_for) >= IDLE_TIMEOUT_S - connected_s - 0.5 and max(held_for) <= IDLE_TIMEOUT_S + 3
    assert ControlClient(path, timeout=30).call("volume", {"level": 40}) == {"volume": 40}


# -- helpers -------------------------------------------------------------------------------


def timed_ask(client: ControlClient) -> float:
    """Seconds for one spoken turn through the control socket."""
    started = time.monotonic()
    reply = client.call("ask", {"text": QUESTION})
    assert reply["outcome"] == "answered", reply
    return round(time.monotonic() - started, 3)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for {pid}")


class ThreadWatch:
    """The most threads ``pid`` had while the block ran (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ThreadWatch:
        self.peak = threads(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, threads(self.pid))


class Flood:
    """Rounds of ``FLOOD`` half-sent requests to the metrics port, each held open for ``HOLD_S``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.rounds = 0
        self.connected = 0
        """Connections made in the last full round."""
        self._done = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Flood:
        self._thread.start()
        assert self._first.wait(60), "the first round of the flood did not finish"
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(60)

    def _run(self) -> None:
        while True:
            held = _half_sent(self.port, FLOOD, timeout_s=10.0)
            self.rounds += 1
            self.connected = len(held)
            self._first.set()
            stopping = self._done.wait(HOLD_S)
            for sock in held:
                sock.close()
            if stopping:
                return


def _half_sent(port: int, count: int, *, timeout_s: float) -> list[socket.socket]:
    """``count`` connections opened at once, each sent ``HALF_SENT``; those connected in time."""
    held = []
    with selectors.DefaultSelector() as selector:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            if sock.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS):
                selector.register(sock, selectors.EVENT_WRITE)
            else:
                sock.close()
        deadline = time.monotonic() + timeout_s
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                selector.unregister(sock)
                try:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and sock.send(HALF_SENT):
                        held.append(sock)
                        continue
                except OSError:
                    pass
                sock.close()
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
    return held


class Answer:
    """What one control client received before the daemon closed it."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.data = b""
        self.closed_after_s: float | None = None

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.data.splitlines() if line.strip()]


def _connect_unix(path: Path, timeout_s: float = 10.0) -> socket.socket:
    """A connected, non-blocking client; a full accept queue is waited out (a Unix socket says EAGAIN)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            sock.connect(str(path))
            return sock
        except BlockingIOError:
            if time.monotonic() > deadline:
                sock.close()
                raise
            time.sleep(0.001)  # the daemon accepts in batches of its backlog


def _read_until_closed(socks: list[socket.socket], *, deadline_s: float) -> list[Answer]:
    """Everything each client receives until the daemon closes it (or the deadline passes)."""
    now = time.monotonic()
    answers = {sock: Answer(now) for sock in socks}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = now + deadline_s
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                answer = answers[sock]
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                answer.data += chunk
                if not chunk:
                    answer.closed_after_s = time.monotonic() - answer.started
                    selector.unregister(sock)
    return [answers[sock] for sock in socks]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def _raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
