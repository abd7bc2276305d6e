"""scripts/restore against hostile archives and a state directory with planted links (no install needed).

restore runs as root: every archive is treated as hostile, and the state
directory is writable by the service, so nothing there may be followed.
Each test runs the real script with --prefix/--state-dir in a tmp folder.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "lib"))
import sqlite_copy  # noqa: E402

STAMP = "20260101-000000"


def run_restore(*args: str, path_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPLIANCE_CONFIG")}
    if path_dir is not None:
        env["PATH"] = f"{path_dir}:{env['PATH']}"
    return subprocess.run(
        [str(ROOT / "scripts" / "restore"), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def make_db(path: Path, rows: int) -> dict:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT)")
    con.executemany("INSERT INTO memories (text) VALUES (?)", [(f"memory {i}",) for i in range(rows)])
    con.commit()
    con.close()
    return sqlite_copy.describe(path)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def good_archive(tmp_path: Path, extra=None) -> Path:
    """An archive as scripts/backup writes it (./, memory.db, meta.json), plus ``extra(tar)`` members."""
    db = tmp_path / "src.db"
    found = make_db(db, 10)
    meta = {"format": 1, "version": "test", "memory_db": found}
    archive = tmp_path / "board.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        top = tarfile.TarInfo(".")
        top.type = tarfile.DIRTYPE
        tar.addfile(top)
        tar.add(db, arcname="./memory.db")
        add_bytes(tar, "./meta.json", json.dumps(meta).encode())
        if extra is not None:
            extra(tar)
    return archive


@pytest.fixture
def board(tmp_path) -> tuple[Path, Path]:
    """(prefix, state dir) with a current memory.db that must survive any refusal."""
    prefix = tmp_path / "board"
    state = tmp_path / "state"
    state.mkdir()
    prefix.mkdir()
    (state / "memory.db").write_bytes(b"keep me")
    return prefix, state


def test_a_backup_archive_restores_with_private_files(tmp_path, board):
    prefix, state = board
    result = run_restore(str(good_archive(tmp_path)), "--state-dir", str(state), "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert sqlite_copy.describe(state / "memory.db")["tables"] == {"memories": 10}
    assert stat.S_IMODE((state / "memory.db").stat().st_mode) == 0o600
    aside = next((state / "backups").iterdir())
    assert aside.read_bytes() == b"keep me"


HOSTILE = {
    "an unexpected member": lambda tar: add_bytes(tar, "./authorized_keys", b"ssh-ed25519 AAAA"),
    "a path outside": lambda tar: add_bytes(tar, "../../etc/cron.d/x", b"* * * * * root id"),
    "an absolute path": lambda tar: add_bytes(tar, "/etc/cron.d/x", b"* * * * * root id"),
    "a symlink": lambda tar: add_bytes(tar, "./models.json", b"", type=tarfile.SYMTYPE, linkname="/etc/shadow"),
    "a hard link": lambda tar: add_bytes(tar, "./models.json", b"", type=tarfile.LNKTYPE, linkname="./memory.db"),
    "a device": lambda tar: add_bytes(tar, "./models.json", b"", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
    "a subdirectory": lambda tar: add_bytes(tar, "./models", b"", type=tarfile.DIRTYPE),
    "a member twice": lambda tar: add_bytes(tar, "./meta.json", b"{}"),
    "an oversized file": lambda tar: add_bytes(tar, "./appliance.toml", b"#" * (1024 * 1024 + 1)),
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_and_nothing_is_replaced(tmp_path, board, what):
    prefix, state = board
    archive = good_archive(tmp_path, HOSTILE[what])
    before = sorted(p.name for p in state.rglob("*"))
    result = run_restore(str(archive), "--state-dir", str(state), "--prefix", str(prefix))
    assert result.returncode == 1, result.stderr
    assert "not an archive restore accepts" in result.stderr and "Traceback" not in result.stderr
    assert (state / "memory.db").read_bytes() == b"keep me"
    assert sorted(p.name for p in state.rglob("*")) == before
    assert not (tmp_path / "etc").exists()


def test_a_truncated_archive_is_refused(tmp_path, board):
    prefix, state = board
    archive = good_archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[:200])
    result = run_restore(str(archive), "--state-dir", str(state), "--prefix", str(prefix))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (state / "memory.db").read_bytes() == b"keep me"


@pytest.mark.parametrize("planted", ["backups", "memory.db", "memory.db.restoring"])
def test_a_link_planted_in_the_state_directory_is_never_followed(tmp_path, board, planted):
    prefix, state = board
    target = tmp_path / "outside"
    target.mkdir()
    (target / "precious").write_bytes(b"root's file")
    link = state / planted
    if link.exists():
        link.unlink()
    link.symlink_to(target if planted == "backups" else target / "precious")
    result = run_restore(str(good_archive(tmp_path)), "--state-dir", str(state), "--prefix", str(prefix))
    assert result.returncode == 1
    assert "symbolic link" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["precious"]
    assert (target / "precious").read_bytes() == b"root's file"


def test_a_failure_after_the_current_database_moved_aside_puts_it_back(tmp_path, board):
    prefix, state = board
    (state / "memory.db-shm").mkdir()  # a -shm that cannot be moved aside (its target is a full folder)
    blocked = state / "backups" / f"memory.db.before-restore-{STAMP}-shm"
    (blocked / "memory.db-shm").mkdir(parents=True)
    (blocked / "memory.db-shm" / "x").write_text("x")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "date").write_text(f"#!/bin/sh\necho {STAMP}\n")
    (fake / "date").chmod(0o755)
    result = run_restore(str(good_archive(tmp_path)), "--state-dir", str(state), "--prefix", str(prefix), path_dir=fake)
    assert result.returncode == 1, result.stderr
    assert "put the previous" in result.stderr
    assert (state / "memory.db").read_bytes() == b"keep me"
    assert not (state / "memory.db.restoring").exists()


def test_sqlite_copy_quotes_hostile_table_names(tmp_path):
    db = tmp_path / "hostile.db"
    con = sqlite3.connect(db)
    con.execute('CREATE TABLE "x"" ; DROP TABLE memories; --" (a)')
    con.execute("CREATE TABLE memories (a)")
    con.execute("INSERT INTO memories VALUES (1)")
    con.commit()
    con.close()
    tables = sqlite_copy.describe(db)["tables"]
    assert tables == {'x" ; DROP TABLE memories; --': 0, "memories": 1}


def test_sqlite_copy_refuses_a_link_as_its_destination(tmp_path):
    db = tmp_path / "memory.db"
    make_db(db, 3)
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    (tmp_path / "copy.db.part").symlink_to(victim)
    assert sqlite_copy.main(["backup", str(db), str(tmp_path / "copy.db")]) == 1
    assert victim.read_bytes() == b"untouched"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPLIANCE_CONFIG")}
    return subprocess.run(
        [str(ROOT / "scripts" / name), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_backup_into_the_state_directory_is_private_and_follows_no_link(tmp_path, board):
    prefix, state = board
    (state / "memory.db").unlink()
    make_db(state / "memory.db", 5)
    out = state / "backups" / "board.tar.gz"
    made = run_script("backup", "--state-dir", str(state), "--prefix", str(prefix), "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert Path(made.stdout.strip()) == out and stat.S_IMODE(out.stat().st_mode) == 0o600
    outside = tmp_path / "outside"
    outside.mkdir()
    out.unlink()
    (state / "backups").rmdir()
    (state / "backups").symlink_to(outside)
    refused = run_script("backup", "--state-dir", str(state), "--prefix", str(prefix), "--out", str(out))
    assert refused.returncode == 1 and "symbolic link" in refused.stderr
    assert list(outside.iterdir()) == []
