"""scripts/backup and its copy helper against a state directory the service user controls.

backup runs as root and reads memory.db from a folder the service user writes: a name
there may turn into a link (to a root-only file) between any two steps. The race test
runs the real copy code 200 times while another process keeps swapping memory.db for a
link to a secret database; no copy may hold the secret. How often a race lands depends on
the scheduler, so a second test swaps the link in at each of the copy's file-system calls
in turn: the check-then-open code before this leaked at 4 of those 38 points.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "lib"))
import sqlite_copy  # noqa: E402

CANARY = "CANARY-5f0c1e-root-only"
RACE_RUNS = 200

SWAPPER = """
import os, random, sys, time
db, secret, stop = sys.argv[1], sys.argv[2], sys.argv[3]
aside, link = db + ".real", db + ".link"


def hold(seconds):  # a busy wait: sleeping even 0 s lasts far longer than the check-to-open gap
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


print("ready", flush=True)
while not os.path.exists(stop):
    burst = time.monotonic() + random.uniform(0, 0.004)
    while time.monotonic() < burst:  # swap every few tens of microseconds
        os.symlink(secret, link)
        os.rename(db, aside)
        os.rename(link, db)  # memory.db is a link to the secret now
        hold(random.uniform(0.000005, 0.00003))
        os.rename(aside, db)  # and the real database again
        hold(random.uniform(0.000005, 0.00003))
    time.sleep(random.uniform(0, 0.002))  # a quiet moment, for backups to get through
"""

WRITER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=8")  # checkpoints and -wal restarts every few commits
con.execute("CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY, text TEXT)")
print("ready", flush=True)
batch = 0
while True:  # transactions of 50 rows in, and (past 1000 rows) 50 out
    con.execute("BEGIN")
    con.executemany("INSERT INTO memories (text) VALUES (?)", [(f"memory {batch}-{i}" * 8,) for i in range(50)])
    con.execute("COMMIT")
    if batch >= 20:
        con.execute("DELETE FROM memories WHERE id IN (SELECT id FROM memories ORDER BY id LIMIT 50)")
    batch += 1
"""


def make_db(path: Path, rows: int, table: str = "memories", text: str = "memory") -> None:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, text TEXT)")
    con.executemany(f"INSERT INTO {table} (text) VALUES (?)", [(f"{text} {i}",) for i in range(rows)])
    con.commit()
    con.close()


@pytest.fixture
def secret(tmp_path) -> Path:
    """A root-only SQLite database holding the canary (as the finding's /root file would be)."""
    path = tmp_path / "secret.db"
    make_db(path, 3, table="secret", text=CANARY)
    path.chmod(0o600)
    return path


@pytest.fixture
def state(tmp_path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    make_db(path / "memory.db", 20)
    return path


def leaked(copy: Path) -> bool:
    return copy.exists() and CANARY.encode() in copy.read_bytes()


def race(module: ModuleType, state: Path, secret: Path, scratch: Path, runs: int) -> dict[str, int]:
    """``module.backup`` of state/memory.db ``runs`` times while a process swaps it for a link."""
    stop = scratch / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(state / "memory.db"), str(secret), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    counts = {"copies of the secret": 0, "backups": 0, "refused": 0, "unclear failures": 0}
    try:
        assert swapper.stdout is not None and swapper.stdout.readline().strip() == "ready"
        for run in range(runs):
            time.sleep(random.uniform(0, 0.001))  # start at a random moment of the swapper's cycle
            dest = scratch / f"copy-{run}.db"
            copied = False
            try:
                info = module.backup(state / "memory.db", dest)
            except (OSError, sqlite3.Error) as err:
                clear = any(word in str(err) for word in ("symbolic link", "does not exist", "kept changing"))
                counts["refused" if clear else "unclear failures"] += 1
            else:
                counts["backups"] += 1
                copied = info["tables"] != {"memories": 20}
            copied = copied or leaked(dest) or leaked(Path(f"{dest}.part"))
            counts["copies of the secret"] += copied
            dest.unlink(missing_ok=True)
    finally:
        stop.touch()
        swapper.wait(timeout=30)
    return counts


def test_the_backup_race_never_copies_a_linked_file(tmp_path, state, secret):
    scratch = tmp_path / "copies"
    scratch.mkdir()
    counts = race(sqlite_copy, state, secret, scratch, RACE_RUNS)
    assert counts["copies of the secret"] == 0 and counts["unclear failures"] == 0, counts
    assert counts["backups"] > 0, counts  # the race leaves room for real backups too
    assert sqlite_copy.describe(state / "memory.db")["tables"] == {"memories": 20}


FS_CALLS = ("open", "stat", "lstat", "fstat", "pread", "read", "unlink", "rename", "replace", "close")


@contextmanager
def link_swapped_in_at(call: int, db: Path, secret: Path, *, and_back: bool) -> Iterator[list[int]]:
    """While inside: at the ``call``-th os file-system call, memory.db becomes a link to ``secret``
    (and the real file again at the next call when ``and_back``). Yields [calls made so far]."""
    real = {name: getattr(os, name) for name in FS_CALLS}
    aside = Path(f"{db}.real")
    made = [0]

    def swap(to_link: bool) -> None:
        if to_link:
            real["rename"](db, aside)
            os.symlink(secret, db)
        else:
            real["unlink"](db)
            real["rename"](aside, db)

    def counted(name: str) -> Callable[..., Any]:
        def call_through(*args: Any, **kwargs: Any) -> Any:
            made[0] += 1
            if made[0] == call:
                swap(True)
            elif and_back and made[0] == call + 1:
                swap(False)
            return real[name](*args, **kwargs)

        return call_through

    for name in FS_CALLS:
        setattr(os, name, counted(name))
    try:
        yield made
    finally:
        for name, function in real.items():
            setattr(os, name, function)
        if db.is_symlink():
            swap(False)


def backup_with_swaps(module: ModuleType, state: Path, secret: Path, scratch: Path) -> list[str]:
    """``module.backup`` with memory.db swapped for a link at each of its file-system calls in turn."""
    db = state / "memory.db"
    with link_swapped_in_at(0, db, secret, and_back=False) as made:
        module.backup(db, scratch / "plain.db")
    leaks = []
    for call in range(1, made[0] + 2):
        for and_back in (False, True):
            dest = scratch / f"copy-{call}-{and_back}.db"
            with link_swapped_in_at(call, db, secret, and_back=and_back):
                try:
                    info = module.backup(db, dest)
                except (OSError, sqlite3.Error):
                    continue
            if info["tables"] != {"memories": 20} or leaked(dest):
                leaks.append(f"swapped at call {call}" + (" and back" if and_back else ""))
    return leaks


def test_a_link_swapped_in_at_any_step_is_never_read(tmp_path, state, secret):
    scratch = tmp_path / "copies"
    scratch.mkdir()
    assert backup_with_swaps(sqlite_copy, state, secret, scratch) == []


def test_a_live_wal_database_copies_committed_transactions_only(tmp_path):
    db = tmp_path / "memory.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    copied = 0
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        for run in range(20):
            dest = tmp_path / f"copy-{run}.db"
            try:
                info = sqlite_copy.backup(db, dest)
            except OSError as err:  # the -wal restarted during every try: refused, never torn
                assert "kept changing" in str(err)
                continue
            copied += 1
            assert info["integrity"] == "ok"
            assert info["tables"]["memories"] % 50 == 0  # whole transactions
            con = sqlite3.connect(dest)
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            con.close()
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert copied > 0
    assert not list(tmp_path.glob("*.part"))


def plant(state: Path, secret: Path, how: str) -> Path:
    """state with ``how`` done to it; returns the state folder to back up from."""
    db = state / "memory.db"
    if how == "memory.db is a link":
        db.unlink()
        db.symlink_to(secret)
    elif how == "its -wal is a link":
        Path(f"{db}-wal").symlink_to(secret)
    elif how == "the folder is a link":
        linked = state.parent / "linked-state"
        linked.symlink_to(state)
        return linked
    elif how == "memory.db is a fifo":
        db.unlink()
        os.mkfifo(db)
    elif how == "memory.db is someone else's":
        if os.geteuid() != 0:
            pytest.skip("chown needs root")
        os.chown(db, 65534, 65534)
    elif how == "memory.db is a hard link to root's file":
        if os.geteuid() != 0:
            pytest.skip("chown needs root")
        os.chown(state, 65534, 65534)  # the service's folder, the service's link
        db.unlink()
        os.link(secret, db)
    return state


@pytest.mark.parametrize(
    "how",
    [
        "memory.db is a link",
        "its -wal is a link",
        "the folder is a link",
        "memory.db is a fifo",
        "memory.db is someone else's",
        "memory.db is a hard link to root's file",
    ],
)
def test_links_and_odd_files_are_refused(tmp_path, state, secret, how):
    folder = plant(state, secret, how)
    dest = tmp_path / "copy.db"
    assert sqlite_copy.main(["backup", str(folder / "memory.db"), str(dest)]) == 1
    assert not dest.exists() and not Path(f"{dest}.part").exists()


# -- the script ----------------------------------------------------------------------------


def run_backup(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPLIANCE_CONFIG")}
    return subprocess.run(
        [str(ROOT / "scripts" / "backup"), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_the_script_refuses_a_linked_memory_db_and_writes_nothing(tmp_path, state, secret):
    prefix = tmp_path / "board"
    prefix.mkdir()
    (state / "memory.db").unlink()
    (state / "memory.db").symlink_to(secret)
    result = run_backup("--prefix", str(prefix), "--state-dir", str(state))
    assert result.returncode == 1
    assert "symbolic link" in result.stderr and "Traceback" not in result.stderr
    archives = prefix / "var/backups/appliance"
    assert not archives.exists() or list(archives.iterdir()) == []


def test_archives_go_to_a_private_folder_outside_the_state_directory(tmp_path, state):
    prefix = tmp_path / "board"
    prefix.mkdir()
    made = run_backup("--prefix", str(prefix), "--state-dir", str(state))
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip())
    assert archive.parent == prefix / "var/backups/appliance"
    folder = archive.parent.stat()
    assert folder.st_uid == os.geteuid() and stat.S_IMODE(folder.st_mode) == 0o700
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert {"./memory.db", "./meta.json", "./models.json"} <= set(tar.getnames())
    assert list(archive.parent.iterdir()) == [archive]  # no .part left


@pytest.mark.parametrize("problem", ["a link", "writable by others"])
def test_an_archive_folder_others_could_change_is_refused(tmp_path, state, problem):
    prefix = tmp_path / "board"
    folder = prefix / "var/backups/appliance"
    outside = tmp_path / "outside"
    outside.mkdir()
    folder.parent.mkdir(parents=True)
    if problem == "a link":
        folder.symlink_to(outside)
    else:
        folder.mkdir()
        folder.chmod(0o777)
    result = run_backup("--prefix", str(prefix), "--state-dir", str(state))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert list(outside.iterdir()) == []
    if problem != "a link":
        assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-tmpfiles"), reason="needs root and systemd-tmpfiles")
def test_tmpfiles_makes_the_archive_folder_root_only(tmp_path):
    root = tmp_path / "root"
    (root / "etc/tmpfiles.d").mkdir(parents=True)
    shutil.copy(ROOT / "systemd/appliance.tmpfiles", root / "etc/tmpfiles.d/appliance.conf")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nappliance:x:990:990::/var/lib/appliance:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nappliance:x:990:\n")
    subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create"], check=True, capture_output=True, timeout=60)
    folder = (root / "var/backups/appliance").stat()
    assert folder.st_uid == 0 and folder.st_gid == 0 and stat.S_IMODE(folder.st_mode) == 0o700
