"""One command to the daemon's control socket, with the standard library only.

Usage: control.py SOCKET COMMAND [ARGS-JSON] [--timeout SECONDS]
Prints the result as JSON. Exit codes: 0 ok, 1 the daemon refused or answered
nonsense, 2 bad usage, 3 no daemon answers on SOCKET.
The maintenance scripts use this instead of the installed package so they
keep working when an update left the package broken.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NO_DAEMON = 0, 1, 2, 3


def call(path: str, command: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one request and return the parsed reply (raises OSError when nobody answers)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"id": 1, "cmd": command, "args": args}).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    return json.loads(b"".join(chunks))


def main(argv: list[str]) -> int:
    timeout = 5.0
    if "--timeout" in argv:
        at = argv.index("--timeout")
        try:
            timeout = float(argv[at + 1])
        except (IndexError, ValueError):
            print("control.py: --timeout needs a number of seconds", file=sys.stderr)
            return EXIT_USAGE
        del argv[at : at + 2]
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    path, command = argv[0], argv[1]
    try:
        args = json.loads(argv[2]) if len(argv) == 3 else {}
    except ValueError as err:
        print(f"control.py: arguments are not JSON: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reply = call(path, command, args, timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"control.py: no daemon answers on {path}", file=sys.stderr)
        return EXIT_NO_DAEMON
    except (OSError, ValueError) as err:
        print(f"control.py: {path}: {err}", file=sys.stderr)
        return EXIT_FAIL
    if not reply.get("ok"):
        error = reply.get("error") or {}
        print(f"control.py: {error.get('message', 'failed')} [{error.get('code', 'error')}]", file=sys.stderr)
        return EXIT_FAIL
    print(json.dumps(reply.get("result"), indent=2))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
