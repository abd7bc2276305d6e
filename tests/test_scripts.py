"""The SSH maintenance scripts, run for real against an installation laid out with `install --prefix`.

The install stacks its venv on the test environment's packages (--base-env) with
PIP_NO_INDEX=1, so nothing is downloaded; everything else (venv, launcher, user
in the prefix's /etc/passwd, tmpfiles, config, joined models, the daemon started
by update) is the real thing.  Tests run in file order and share one prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from .test_systemd import add_unit_library, verify_unit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["install", "update", "status", "logs", "backup", "restore", "models", "health-check", "uninstall"]
BASE_ENV = Path(sys.prefix)
PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
SOURCE_PATHS = ["appliance", "hardware", "systemd", "scripts", "docs", "pyproject.toml", "README.md", "models"]


def clean_env() -> dict[str, str]:
    """This environment without the checkout on PYTHONPATH: the installed version must run."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPLIANCE_CONFIG")}


def run(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """A script as a maintainer runs it over SSH: no terminal, nothing on stdin, nothing downloaded."""
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean_env(), "PIP_NO_INDEX": "1"},
    )


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path with its type, size, mtime, mode and link target."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        link = os.readlink(path) if path.is_symlink() else ""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid, link)
    return out


def copy_source(dest: Path) -> Path:
    for name in SOURCE_PATHS:
        src = ROOT / name
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "cache", "*.gguf", "*.bin")
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("board")
    result = run("install", "--prefix", str(root), "--base-env", str(BASE_ENV), "--python", PYTHON)
    assert result.returncode == 0, result.stderr
    return root


# -- usage --------------------------------------------------------------------------------


def test_scripts_are_shellcheck_clean():
    paths = [f"scripts/{name}" for name in SCRIPTS] + ["scripts/lib/common.sh", "scripts/lib/install.sh"]
    result = subprocess.run(["shellcheck", "-x", *paths], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_works_and_a_wrong_flag_exits_2_with_usage(script):
    helped = run(script, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith(f"Usage: scripts/{script}")
    assert "Exit codes:" in helped.stdout
    wrong = run(script, "--no-such-flag")
    assert wrong.returncode == 2
    assert "--no-such-flag" in wrong.stderr and f"Usage: scripts/{script}" in wrong.stderr


def test_install_needs_root_outside_a_prefix():
    if os.geteuid() != 0:
        assert run("install", "--no-start").returncode == 4
    missing = run("update", "--prefix", "/nonexistent/board")
    assert missing.returncode == 3 and "run scripts/install first" in missing.stderr


# -- install ------------------------------------------------------------------------------


def test_install_lays_out_the_tree(prefix):
    opt = prefix / "opt/appliance"
    current = opt / "current"
    assert current.is_symlink() and os.readlink(current).startswith("versions/0.")
    version = current.resolve()
    for rel in ("appliance/__init__.py", "hardware/raspberry-pi-5.toml", "models/manifest.toml", ".complete"):
        assert (version / rel).is_file(), rel
    assert os.access(current / "venv/bin/appliance", os.X_OK)
    for rel in (
        "etc/systemd/system/appliance.service",
        "etc/sysusers.d/appliance.conf",
        "etc/tmpfiles.d/appliance.conf",
        "etc/udev/rules.d/99-appliance.rules",
        "etc/appliance/appliance.toml",
    ):
        assert (prefix / rel).is_file(), rel
    assert oct((prefix / "etc/appliance/appliance.toml").stat().st_mode & 0o777) == "0o640"
    assert 'profile = "generic-linux"' in (prefix / "etc/appliance/appliance.toml").read_text()
    assert "appliance:" in (prefix / "etc/passwd").read_text()
    for rel in ("var/lib/appliance/backups", "var/cache/appliance", "var/log/appliance"):
        assert (prefix / rel).is_dir(), rel
    assert (prefix / "var/lib/appliance/models/whisper-base/model.bin").is_file()  # default models joined
    version_out = subprocess.run(
        [current / "venv/bin/appliance", "--version"], capture_output=True, text=True, env=clean_env()
    )
    assert version_out.stdout.startswith("appliance 0.")


def test_install_again_changes_nothing(prefix):
    before = snapshot(prefix)
    again = run("install", "--prefix", str(prefix), "--base-env", str(BASE_ENV), "--python", PYTHON)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr
    assert snapshot(prefix) == before


def test_an_edited_config_is_never_overwritten(prefix, tmp_path):
    config = prefix / "etc/appliance/appliance.toml"
    original = config.read_text()
    config.write_text(original + "\n# edited by the owner\n")
    try:
        again = run("install", "--prefix", str(prefix), "--base-env", str(BASE_ENV), "--python", PYTHON)
        assert again.returncode == 0, again.stderr
        assert config.read_text().endswith("# edited by the owner\n")
        assert (prefix / "etc/appliance/appliance.toml.dist").read_text() == original
    finally:
        config.write_text(original)
        (prefix / "etc/appliance/appliance.toml.dist").unlink()


def test_installed_unit_passes_verify_with_the_real_launcher(prefix):
    add_unit_library(prefix)  # the installed tree itself is the root: ExecStart is the real launcher
    verify_unit(prefix)


# -- update ---------------------------------------------------------------------------------


def test_update_to_a_failing_version_rolls_back(prefix, tmp_path):
    current_before = os.readlink(prefix / "opt/appliance/current")
    source = copy_source(tmp_path / "broken")
    daemon = source / "appliance/runtime/daemon.py"
    start = '    notifier = Notifier()\n    notifier.status("loading models")'
    daemon.write_text(daemon.read_text().replace(start, '    raise SystemExit("deliberately broken")\n' + start))
    assert "deliberately broken" in daemon.read_text()
    result = run(
        "update",
        "--prefix",
        str(prefix),
        "--source",
        str(source),
        "--base-env",
        str(BASE_ENV),
        "--python",
        PYTHON,
        "--timeout",
        "120",
    )
    assert result.returncode == 1, result.stderr
    assert "rolled back" in result.stderr and "is back and healthy" in result.stderr
    assert "exited with status 1 before READY=1" in result.stderr
    assert os.readlink(prefix / "opt/appliance/current") == current_before
    assert not (prefix / "opt/appliance/previous").exists()  # never points at the broken version


def test_update_that_fails_after_the_stop_starts_the_previous_version_again(prefix, tmp_path):
    state = prefix / "var/lib/appliance"
    current_before = os.readlink(prefix / "opt/appliance/current")
    db = state / "memory.db"
    if not db.exists():
        sqlite3.connect(db).close()
    outside = tmp_path / "outside"
    outside.mkdir()
    backups = state / "backups"
    backups.rename(tmp_path / "backups.real")
    backups.symlink_to(outside)  # planted by whoever holds the service user
    source = copy_source(tmp_path / "next")
    init = source / "appliance/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.0.post1"'))
    args = ["--prefix", str(prefix), "--source", str(source), "--base-env", str(BASE_ENV), "--python", PYTHON]
    try:
        result = run("update", *args, "--timeout", "120")
    finally:
        backups.unlink()
        (tmp_path / "backups.real").rename(backups)
    assert result.returncode == 1, result.stderr
    assert "symbolic link" in result.stderr and "is running again" in result.stderr
    assert os.readlink(prefix / "opt/appliance/current") == current_before
    assert list(outside.iterdir()) == []


def test_update_switches_to_a_good_version_and_again_does_nothing(prefix, tmp_path):
    old = os.readlink(prefix / "opt/appliance/current")
    source = copy_source(tmp_path / "good")
    init = source / "appliance/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.1"'))
    args = ["--prefix", str(prefix), "--source", str(source), "--base-env", str(BASE_ENV), "--python", PYTHON]
    result = run("update", *args, "--timeout", "120")
    assert result.returncode == 0, result.stderr
    assert os.readlink(prefix / "opt/appliance/current").startswith("versions/0.1.1-")
    assert os.readlink(prefix / "opt/appliance/previous") == old
    again = run("update", *args)
    assert again.returncode == 0 and "nothing to do" in again.stderr


# -- a live daemon: status, health-check, backup ---------------------------------------------


@pytest.fixture
def live_daemon(prefix):
    env = {
        **clean_env(),
        "STATE_DIRECTORY": str(prefix / "var/lib/appliance"),
        "RUNTIME_DIRECTORY": str(prefix / "run/appliance"),
        "CACHE_DIRECTORY": str(prefix / "var/cache/appliance"),
        "APPLIANCE_CONFIG": str(prefix / "etc/appliance/appliance.toml"),
    }
    log = open(prefix / "daemon.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [prefix / "opt/appliance/current/venv/bin/appliance", "run"], env=env, stdout=log, stderr=log
    )
    sock = prefix / "run/appliance/control.sock"
    deadline = time.monotonic() + 120
    while run("health-check", "--prefix", str(prefix), "--quiet").returncode != 0:
        assert proc.poll() is None, (prefix / "daemon.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "the daemon did not become healthy"
        time.sleep(0.5)
    yield proc, sock
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    log.close()


def test_status_json_and_health_check_with_a_live_daemon(prefix, live_daemon):
    result = run("status", "--prefix", str(prefix), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["healthy"] is True
    assert status["daemon"]["running"] is True and status["daemon"]["stage"] == "idle"
    assert status["install"]["current"].startswith("0.1.")
    assert status["mqtt"] == {"configured": False}
    assert status["disk"]["free_mb"] > 0 and status["memory"]["daemon_rss_mb"] > 100
    assert "llama-cpp-python" in status["packages"]
    screen = run("status", "--prefix", str(prefix))
    assert screen.returncode == 0 and "HEALTHY" in screen.stdout and "pipeline  idle" in screen.stdout
    check = run("health-check", "--prefix", str(prefix))
    assert check.returncode == 0 and "ok   loops" in check.stdout
    low = run("health-check", "--prefix", str(prefix), "--min-free-mb", str(10**12))
    assert low.returncode == 1 and "FAIL disk" in low.stdout


def test_status_and_health_check_without_a_daemon(prefix):
    result = run("status", "--prefix", str(prefix), "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["daemon"]["running"] is False
    check = run("health-check", "--prefix", str(prefix))
    assert check.returncode == 1 and "FAIL socket" in check.stdout


WRITER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY, text TEXT)")
for batch in range(20):
    con.execute("BEGIN")
    con.executemany("INSERT INTO memories (text) VALUES (?)", [(f"memory {batch}-{i}",) for i in range(250)])
    con.execute("COMMIT")
con.execute("BEGIN IMMEDIATE")  # a write in progress that the backup must not include
con.executemany("INSERT INTO memories (text) VALUES (?)", [("uncommitted",)] * 999)
print("ready", flush=True)
sys.stdin.readline()
con.execute("ROLLBACK")
"""


def test_backup_of_a_live_database_restores_identically(prefix, tmp_path):
    state = prefix / "var/lib/appliance"
    db = state / "memory.db"
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):  # a daemon test before may have made one
        leftover.unlink(missing_ok=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        assert Path(f"{db}-wal").exists()  # committed rows still sit in the WAL
        archive = tmp_path / "board.tar.gz"
        result = run("backup", "--prefix", str(prefix), "--out", str(archive))
        assert result.returncode == 0, result.stderr
    finally:
        writer.communicate("\n", timeout=30)
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive) as tar:
        assert {"./memory.db", "./appliance.toml", "./models.json", "./meta.json"} <= set(tar.getnames())
        meta = json.load(tar.extractfile("./meta.json"))  # type: ignore[arg-type]
    assert meta["memory_db"]["tables"] == {"memories": 5000} and meta["memory_db"]["integrity"] == "ok"

    fresh = tmp_path / "fresh-state"
    fresh.mkdir()
    (fresh / "memory.db").write_text("not a database")  # replaced, and kept aside
    restored = run("restore", str(archive), "--state-dir", str(fresh), "--prefix", str(prefix))
    assert restored.returncode == 0, restored.stderr
    con = sqlite3.connect(fresh / "memory.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM memories").fetchone()[0] == 5000
    con.close()
    live = sqlite3.connect(db)
    assert live.execute("SELECT count(*) FROM memories").fetchone()[0] == 5000
    live.close()
    assert next((fresh / "backups").iterdir()).name.startswith("memory.db.before-restore-")
    again = run("restore", str(archive), "--state-dir", str(fresh), "--prefix", str(prefix))
    assert again.returncode == 0  # restoring twice gives the same state


def test_restore_refuses_a_damaged_archive_and_replaces_nothing(prefix, tmp_path):
    db = prefix / "var/lib/appliance/memory.db"
    if not db.exists():  # when this test runs on its own
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT)")
        con.executemany("INSERT INTO memories (text) VALUES (?)", [(f"memory {i}",) for i in range(5000)])
        con.commit()
        con.close()
    archive = tmp_path / "good.tar.gz"
    assert run("backup", "--prefix", str(prefix), "--out", str(archive)).returncode == 0
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked)  # our own archive
    data = bytearray((unpacked / "memory.db").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # a damaged page
    (unpacked / "memory.db").write_bytes(bytes(data))
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(damaged, "w:gz") as tar:
        tar.add(unpacked, arcname=".")
    target = tmp_path / "state"
    target.mkdir()
    (target / "memory.db").write_bytes(b"keep me")
    result = run("restore", str(damaged), "--state-dir", str(target), "--prefix", str(prefix))
    assert result.returncode == 1 and "nothing was replaced" in result.stderr
    assert (target / "memory.db").read_bytes() == b"keep me"


def test_logs_bundle_redacts_secrets(prefix, tmp_path):
    config = prefix / "etc/appliance/appliance.toml"
    original = config.read_text()
    config.write_text(original + '\n[secrets_demo]\npassword = "hunter2"\nurl = "mqtt://kitchen:s3cret@broker.lan"\n')
    try:
        bundle = tmp_path / "report.tar.gz"
        result = run("logs", "--prefix", str(prefix), "--bundle", str(bundle))
        assert result.returncode == 0, result.stderr
    finally:
        config.write_text(original)
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
        assert {"./journal.txt", "./appliance.toml", "./versions.txt", "./doctor.json", "./status.json"} <= names
        text = tar.extractfile("./appliance.toml").read().decode()  # type: ignore[union-attr]
        doctor = tar.extractfile("./doctor.json").read().decode()  # type: ignore[union-attr]
    assert "hunter2" not in text and "s3cret" not in text
    assert 'password = "<redacted>"' in text and "mqtt://<redacted>@broker.lan" in text
    assert "unknown section [secrets_demo]" in doctor  # the doctor's complaint about the config is in the report
    assert not any(name.endswith("memory.db") for name in names)
    assert run("logs", "--prefix", str(prefix), "--bundle", str(bundle)).returncode == 0
    with tarfile.open(bundle) as tar:
        assert json.load(tar.extractfile("./doctor.json"))["models"]["ok"] is True  # type: ignore[arg-type]


def test_models_wrapper(prefix):
    result = run("models", "--prefix", str(prefix), "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["whisper-base"]["state"] == "ok"
    assert run("models", "--prefix", str(prefix), "fetch").returncode == 2


def test_uninstall_keeps_state_unless_purged(prefix):
    result = run("uninstall", "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert not (prefix / "opt/appliance").exists() and not (prefix / "etc/systemd/system/appliance.service").exists()
    assert "appliance:" not in (prefix / "etc/passwd").read_text()
    assert (prefix / "var/lib/appliance/memory.db").exists() and (prefix / "etc/appliance/appliance.toml").exists()
    again = run("uninstall", "--prefix", str(prefix))
    assert again.returncode == 0 and "nothing to remove" in again.stderr
    purged = run("uninstall", "--prefix", str(prefix), "--purge")
    assert purged.returncode == 0 and not (prefix / "var/lib/appliance").exists()
