"""Child process for the crash-safety test: writes turns forever, printing each id once it is committed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from appliance.memory.records import TurnRow, insert_turn
from appliance.memory.store import MemoryStore


def main() -> None:
    store = MemoryStore(Path(sys.argv[1])).open()
    n = 0
    print("ready", flush=True)
    while True:
        n += 1
        row = TurnRow(started=time.time(), ended=time.time(), user_text=f"request {n} " + "words " * 20, reply="ok")
        turn_id = store.submit(lambda c, row=row: insert_turn(c, row, None, "none")).result(timeout=30)
        print(turn_id, flush=True)  # acknowledged: the transaction has committed


if __name__ == "__main__":
    main()
