"""The SQLite outbox: durable until acknowledged, bounded, survives a crash, quarantines a corrupt file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from appliance.integrations.mqtt.outbox import Outbox


def reopen(path: Path, max_entries: int = 100) -> Outbox:
    box = Outbox(path, max_entries)
    box.open()
    return box


def test_entries_stay_until_acknowledged_and_survive_a_restart(tmp_path):
    path = tmp_path / "outbox.db"
    box = reopen(path)
    first = box.add("a/event/transcript", b'{"text": "one"}')
    second = box.add("a/event/reply", b'{"text": "two"}', retain=True)
    box.add("a/event/error", b"{}")
    box.ack(first.id)
    assert [e.id for e in box.unsent(exclude={second.id}, limit=10)] == [3]
    box.close()
    again = reopen(path)
    assert [(e.topic, e.payload, e.retain) for e in again.unsent(set(), 10)] == [
        ("a/event/reply", b'{"text": "two"}', True),
        ("a/event/error", b"{}", False),
    ]
    assert again.add("a/x", b"").id == 4  # ids keep rising across runs
    again.close()


def test_a_forget_drops_queued_transcripts_and_replies_and_leaves_no_bytes(tmp_path):
    """Undelivered speech is forgotten too: off the queue, out of outbox.db and its WAL."""
    path = tmp_path / "outbox.db"
    box = reopen(path)
    box.add("a/event/transcript", b'{"text": "the safe code is CANARYZEBRA 4417"}')
    box.add("a/event/reply", b'{"text": "Noted: CANARYZEBRA 4417."}')
    box.add("a/event/intent", b'{"name": "timer"}')
    assert box.flush(10)
    assert box.drop_topics(frozenset({"a/event/transcript", "a/event/reply"})) == 2
    assert box.flush(10)
    assert [e.topic for e in box.unsent(set(), 10)] == ["a/event/intent"]
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    assert files and not [p.name for p in files if b"CANARYZEBRA" in p.read_bytes()]
    box.close()
    assert [e.topic for e in reopen(path).unsent(set(), 10)] == ["a/event/intent"]


def test_full_outbox_drops_the_oldest(tmp_path):
    box = reopen(tmp_path / "outbox.db", max_entries=10)
    for i in range(25):
        box.add("t", str(i).encode())
    assert len(box) == 10 and box.dropped == 15
    assert [e.payload for e in box.unsent(set(), 3)] == [b"15", b"16", b"17"]
    box.close()
    assert len(reopen(tmp_path / "outbox.db", max_entries=10)) == 10


def test_committed_entries_survive_kill_9(tmp_path):
    """A daemon killed mid-stream loses nothing it had committed (WAL + synchronous=NORMAL)."""
    path = tmp_path / "outbox.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from appliance.integrations.mqtt.outbox import Outbox
        box = Outbox(Path({str(path)!r}), 10000)
        box.open()
        for i in range(500):
            box.add("t/event", str(i).encode())
        assert box.flush(10)
        print("committed", flush=True)
        for i in range(500, 5000):
            box.add("t/event", str(i).encode())
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == -signal.SIGKILL and "committed" in proc.stdout, proc.stderr
    box = reopen(path, 10000)
    payloads = [int(e.payload) for e in box.unsent(set(), 10000)]
    assert payloads[:500] == list(range(500))  # everything committed is there, in order
    assert payloads == list(range(len(payloads)))  # and nothing half-written
    box.close()


def test_corrupt_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is not a database" * 100)
    box = reopen(path)
    assert len(box) == 0
    box.add("t", b"x")
    box.close()
    assert list(tmp_path.glob("outbox.db.corrupt.*"))
    assert "unreadable" in caplog.text


def test_an_outbox_that_cannot_be_opened_runs_in_memory_and_leaves_the_file(tmp_path):
    path = tmp_path / "outbox.db"
    path.mkdir()  # not openable (root ignores modes, so a folder stands in for EACCES)
    box = Outbox(path, 10)
    assert box.open() == 0 and box.unavailable and "in memory only" in box.unavailable
    entry = box.add("a/b", b"x")
    assert box.unsent(frozenset(), 5) == [entry] and box.flush()
    box.ack(entry.id)
    assert len(box) == 0 and path.is_dir() and not list(tmp_path.glob("*.corrupt.*"))
    box.close()


def test_a_corrupt_outbox_is_moved_aside_and_the_new_one_is_private(tmp_path):
    path = tmp_path / "outbox.db"
    path.write_bytes(b"garbage" * 1000)
    box = Outbox(path, 10)
    assert box.open() == 0 and box.unavailable is None
    assert list(tmp_path.glob("outbox.db.corrupt.*"))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    box.close()


def test_an_outbox_that_could_not_open_adopts_the_file_once_it_can(tmp_path):
    path = tmp_path / "outbox.db"
    earlier = Outbox(path, 10)
    earlier.open()
    left = earlier.add("old/event", b"from the last run")
    assert earlier.flush()
    earlier.close()
    os.chmod(path, 0o600)
    blocked = tmp_path / "outbox.db"
    blocked.rename(tmp_path / "aside.db")
    blocked.mkdir()  # cannot be opened now (a stand-in for EACCES or a full disk)
    box = Outbox(path, 10)
    assert box.open() == 0 and box.unavailable
    new = box.add("new/event", b"while it was off")
    blocked.rmdir()
    (tmp_path / "aside.db").rename(path)  # the problem is fixed
    opened = box.connect_again()
    assert opened is not None
    box.adopt(*opened)
    assert box.unavailable is None
    assert [e.topic for e in box.unsent(frozenset(), 10)] == ["old/event", "new/event"]  # oldest first
    assert box.flush()
    box.close()
    again = Outbox(path, 10)
    assert again.open() == 2 and {e.id for e in again.unsent(frozenset(), 10)} == {left.id, new.id}
    again.close()
