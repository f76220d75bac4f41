"""A backup file sealed under a backup key: AES-256-GCM in chunks, cut or reordered = refused.

Layout: ``MAGIC``, one JSON header line (the backup key's id, the backend), then chunks, each
a 4-byte big-endian length and ``nonce || ciphertext+tag`` of at most ``CHUNK`` plaintext
bytes. Each chunk's associated data binds the header, its index and whether it is the last, so
a file cut short, spliced or with chunks swapped does not open.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from homeward.base.errors import InvalidInput
from homeward.crypt import crypto

MAGIC = b"HOMEWARD SEALED BACKUP v1\n"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Header:
    key_id: str
    backend: str


def is_sealed(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return b"homeward:backup:" + header + struct.pack(">Q?", index, last)


def seal(plain: Path, target: Path, *, key_id: str, key: bytes, backend: str) -> None:
    """Write ``plain`` sealed under ``key`` into ``target`` (which exists, mode 0600)."""
    header = json.dumps({"key_id": key_id, "backend": backend}).encode() + b"\n"
    with open(plain, "rb") as src, open(target, "wb") as dst:
        dst.write(MAGIC + header)
        index, block = 0, src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            sealed = crypto.seal(key, block, _aad(header, index, not following))
            dst.write(struct.pack(">I", len(sealed)) + sealed)
            if not following:
                return
            index, block = index + 1, following


def read_header(path: Path) -> Header:
    """The header of a sealed backup; ``InvalidInput`` if it is not one."""
    with open(path, "rb") as handle:
        return _header(handle, path)[0]


def _header(handle: BinaryIO, path: Path) -> tuple[Header, bytes]:
    line = handle.readline(4096) if handle.read(len(MAGIC)) == MAGIC else b""
    try:
        fields = json.loads(line)
        return Header(str(fields["key_id"]), str(fields["backend"])), line
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{path}: not a sealed Homeward backup; choose another file") from None


def unseal(path: Path, out: Path, key: bytes) -> None:
    """Write the plaintext of the sealed ``path`` into ``out``; ``InvalidInput`` if damaged."""
    damaged = InvalidInput(f"{path}: the backup is damaged (a sealed chunk does not open)")
    with open(path, "rb") as src, open(out, "wb") as dst:
        _, header = _header(src, path)
        index = 0
        while True:
            size = src.read(4)
            if len(size) != 4:
                raise damaged  # cut short before its last chunk
            sealed = src.read(struct.unpack(">I", size)[0])
            last = not src.peek(1)  # nothing follows: this must be the chunk sealed as last
            try:
                dst.write(crypto.unseal(key, sealed, _aad(header, index, last)))
            except crypto.DecryptionFailed:
                raise damaged from None
            if last:
                return
            index += 1
