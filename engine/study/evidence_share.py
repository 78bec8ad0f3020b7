"""A trial's evidence file carried through the shared study storage, for other hosts.

PBO and the deflated Sharpe ratio need every trial's per-bar out-of-sample returns
(engine.study.trace). Each host writes them next to its own models, so with separate
`[paths] models` another host's trials would count in N but add no returns. So the host that
ran a trial publishes its `evidence.npz`, byte for byte, as the trial's user attr `evidence`
(set before Optuna is told the final state, like the other attrs engine.study.mirror reads):

    {"v": 1, "bytes": <size of the file>, "sha256": <hex of the file>,
     "zlib_b64": <the file, zlib-compressed, base64>}

and every other host's mirror writes it back as `<[paths] models>/<study>/trial-N/
evidence.npz` (where engine.study.evidence looks for a mirrored trial's trace). The same
bytes on every host give every host the same PBO and DSR over every trial attempted.

The storage is shared with other machines, so what comes out of it is checked before it is
written: the version, a size cap on the inflated file, its sha256, and that numpy reads it
as a trace without pickles (engine.study.trace.load_trace). Anything else is skipped with a
reason; a file already there is never replaced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

from engine.study.trace import FILE, load_trace

ATTR_EVIDENCE = "evidence"
VERSION = 1
MAX_BYTES = 256 * 2**20   # an inflated evidence file larger than this is refused


class BadEvidence(ValueError):
    """A shared evidence attr that cannot be trusted (one line: what is wrong)."""


def pack(folder: Path) -> dict[str, Any] | None:
    """The attr for the evidence file in `folder`; None when there is none."""
    try:
        raw = (folder / FILE).read_bytes()
    except OSError:
        return None
    return {"v": VERSION, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "zlib_b64": base64.b64encode(zlib.compress(raw, 6)).decode("ascii")}


def unpack(attr: Any) -> bytes:
    """The file's bytes, checked; raises BadEvidence."""
    if not isinstance(attr, dict) or attr.get("v") != VERSION:
        raise BadEvidence("unknown evidence format")
    size, digest, text = attr.get("bytes"), attr.get("sha256"), attr.get("zlib_b64")
    if not (isinstance(size, int) and 0 < size <= MAX_BYTES and isinstance(digest, str)
            and isinstance(text, str)):
        raise BadEvidence("evidence fields missing, mistyped or over the size cap")
    try:
        packed = base64.b64decode(text, validate=True)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(packed, MAX_BYTES + 1)
    except (binascii.Error, zlib.error) as e:
        raise BadEvidence(f"evidence does not decode: {e}") from None
    if len(raw) != size or inflate.unconsumed_tail:
        raise BadEvidence("evidence size differs from the size it claims")
    if hashlib.sha256(raw).hexdigest() != digest:
        raise BadEvidence("evidence sha256 differs from the one it claims")
    return raw


def write(folder: Path, attr: Any) -> bool:
    """Write a shared evidence attr as `folder`/evidence.npz unless one is there; True when
    written. Raises BadEvidence (nothing written) when it does not check out."""
    path = folder / FILE
    if path.exists():
        return False
    raw = unpack(attr)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{FILE}.{os.getpid()}.shared.tmp"
    tmp.write_bytes(raw)
    if load_trace(tmp) is None:
        tmp.unlink(missing_ok=True)
        raise BadEvidence("evidence is not a readable trace")
    os.replace(tmp, path)
    return True
