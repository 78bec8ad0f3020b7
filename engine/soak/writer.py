"""A counting writer for the soak: commits numbered kv rows, one per transaction, and prints
each number once its commit returned. Every number it printed must be in the store at the
end, however often it (or anything else) was SIGKILLed.

    python -m engine.soak.writer STORE_PATH WRITER_ID
"""

from __future__ import annotations

import sys
import time

from store.db import Store, StoreError, now
from store.fixtures import add_kv

PREFIX = "soak.writer"


def key(writer: str, n: int) -> str:
    return f"{PREFIX}.{writer}.{n:07d}"


def main(argv: list[str]) -> int:
    path, writer = argv
    store = Store(path, check=False)
    n = 0
    while True:
        try:
            with store.write():
                add_kv(store.conn, key(writer, n), "x" * 64, now())
        except StoreError as e:  # a busy store: try the same number again
            print(f"retry {n}: {e}", file=sys.stderr, flush=True)
            time.sleep(0.05)
            continue
        print(n, flush=True)
        n += 1
        time.sleep(0.002)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
