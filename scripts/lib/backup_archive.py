"""Unpack a backup archive made by scripts/backup, refusing anything it would not have made.

Usage: backup_archive.py extract ARCHIVE DIR
Exit codes: 0 unpacked, 1 refused or unreadable (DIR is left empty), 2 bad usage.

restore runs as root, so the archive is hostile input: only the four files
scripts/backup writes are taken, each a regular file under its size cap.  A
member outside that list, a link, a device, an absolute or `..` path, or a
file over its cap refuses the whole archive before anything is written.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
MIB = 1024 * 1024

# What scripts/backup puts in an archive, and the most each may hold (bytes).
EXPECTED = {
    "memory.db": 4096 * MIB,
    "appliance.toml": 1 * MIB,
    "models.json": 4 * MIB,
    "meta.json": 1 * MIB,
}
MAX_MEMBERS = 16  # a stream of empty members is refused before it costs minutes


class Refused(Exception):
    """The archive holds something restore must not unpack."""


def member_name(member: tarfile.TarInfo) -> str | None:
    """The expected file a member is, None for the top directory; raises Refused for anything else."""
    raw = member.name
    name = raw[2:] if raw.startswith("./") else raw
    if name in (".", "", "./"):
        if not member.isdir():
            raise Refused(f"{raw!r} is not a directory")
        return None
    if raw.startswith("/") or ".." in raw.split("/"):
        raise Refused(f"{raw!r} points outside the archive")
    if name not in EXPECTED:
        raise Refused(f"unexpected member {raw!r}")
    if not member.isreg():
        raise Refused(f"{raw!r} is not a regular file (links and devices are refused)")
    if member.size > EXPECTED[name]:
        raise Refused(f"{raw!r} is {member.size} bytes, over its cap of {EXPECTED[name]}")
    return name


def plan(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Every member checked before anything is written: name -> member."""
    chosen: dict[str, tarfile.TarInfo] = {}
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise Refused(f"more than {MAX_MEMBERS} members")
        name = member_name(member)
        if name is None:
            continue
        if name in chosen:
            raise Refused(f"{name!r} appears twice")
        chosen[name] = member
    return chosen


def extract(archive: Path, dest: Path) -> list[str]:
    """Unpack the expected files of ``archive`` into the empty directory ``dest`` (mode 0600)."""
    with tarfile.open(archive, "r:gz") as tar:
        chosen = plan(tar)
        for name, member in chosen.items():
            source = tar.extractfile(member)
            if source is None:
                raise Refused(f"{name!r} has no data")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with source, os.fdopen(os.open(dest / name, flags, 0o600), "wb") as out:
                copied = _copy_capped(source, out, EXPECTED[name])
            if copied != member.size:
                raise Refused(f"{name!r} holds {copied} bytes, its header says {member.size}")
    return sorted(chosen)


def _copy_capped(source, out, cap: int) -> int:  # type: ignore[no-untyped-def]
    copied = 0
    while chunk := source.read(MIB):
        copied += len(chunk)
        if copied > cap:
            raise Refused(f"a member grew over its cap of {cap}")
        out.write(chunk)
    return copied


def _empty(dest: Path) -> None:
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "extract":
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    archive, dest = Path(argv[1]), Path(argv[2])
    try:
        names = extract(archive, dest)
    except (Refused, OSError, tarfile.TarError, EOFError) as err:
        _empty(dest)
        print(f"backup_archive.py: {archive}: {err}", file=sys.stderr)
        return EXIT_FAIL
    print("\n".join(names))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
