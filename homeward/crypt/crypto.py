"""Field encryption: AES-256-GCM under per-case data keys wrapped by a master key.

Layout of a stored field: ``hw1:`` + base64(nonce[12] || ciphertext+tag). The associated data
binds the ciphertext to its table, column and row id, so a value copied to another row or column
fails to decrypt. Each case has its own 256-bit data key, stored only wrapped (encrypted) by a
master key that lives outside the database (the keyring file); destroying a case's wrapped key
makes its data unreadable in the database at once, and in backups once the backup keys sealing
them expire (``homeward.crypt.backup_keys``). A keyed HMAC (separate key) gives a
blind index for finding a possible duplicate person without decrypting anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from homeward.base.errors import HomewardError

PREFIX = "hw1:"
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionFailed(HomewardError):
    """A ciphertext does not open: wrong row/column, tampered, or its key was destroyed."""

    exit_code = 8


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def _aad(table: str, column: str, row_id: int) -> bytes:
    return f"homeward:{table}:{column}:{row_id}".encode()


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM with a random 96-bit nonce; returns nonce || ciphertext+tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Inverse of ``seal``; raises ``DecryptionFailed`` on any mismatch."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("a protected value could not be decrypted") from None


def encrypt_field(key: bytes, value: str, *, table: str, column: str, row_id: int) -> str:
    """Encrypt one field value for storage in ``table.column`` of row ``row_id``."""
    sealed = seal(key, value.encode(), _aad(table, column, row_id))
    return PREFIX + base64.b64encode(sealed).decode()


def encrypt_fields(
    key: bytes, values: Mapping[str, str | None], *, table: str, row_id: int
) -> dict[str, str | None]:
    """``encrypt_field`` for several columns of one row under one key (its cipher set up
    once): each value encrypted with its own nonce, bound to its own column; None stays
    None."""
    aead = AESGCM(key)
    out: dict[str, str | None] = {}
    # every field's nonce from one draw of the system's random source (a call a row, not a
    # call a field: a bulk import encrypts thousands of rows), each field's its own 12 bytes
    drawn = os.urandom(NONCE_BYTES * len(values))
    for n, (column, value) in enumerate(values.items()):
        if value is None:
            out[column] = None
            continue
        nonce = drawn[n * NONCE_BYTES : (n + 1) * NONCE_BYTES]
        sealed = nonce + aead.encrypt(nonce, value.encode(), _aad(table, column, row_id))
        out[column] = PREFIX + binascii.b2a_base64(sealed, newline=False).decode()
    return out


def decrypt_field(key: bytes, stored: str, *, table: str, column: str, row_id: int) -> str:
    """Decrypt a value stored by ``encrypt_field`` in exactly that table, column and row."""
    if not stored.startswith(PREFIX):
        raise DecryptionFailed(f"{table}.{column} of row {row_id} is not an encrypted value")
    try:
        sealed = base64.b64decode(stored[len(PREFIX) :], validate=True)
    except ValueError:
        raise DecryptionFailed(f"{table}.{column} of row {row_id} is corrupt") from None
    try:
        return unseal(key, sealed, _aad(table, column, row_id)).decode()
    except DecryptionFailed:
        raise DecryptionFailed(
            f"{table}.{column} of row {row_id} could not be decrypted "
            "(moved from another row or column, tampered with, or its case key was destroyed)"
        ) from None


def encrypt_bytes(key: bytes, value: bytes, *, table: str, column: str, row_id: int) -> bytes:
    """``encrypt_field`` for bytes (a document's content): ``hw1:`` + nonce || ciphertext+tag,
    bound to ``table.column`` of row ``row_id`` the same way."""
    return PREFIX.encode() + seal(key, value, _aad(table, column, row_id))


def decrypt_bytes(key: bytes, stored: bytes, *, table: str, column: str, row_id: int) -> bytes:
    """Decrypt bytes stored by ``encrypt_bytes`` in exactly that table, column and row."""
    head = PREFIX.encode()
    if not stored.startswith(head):
        raise DecryptionFailed(f"{table}.{column} of row {row_id} is not an encrypted value")
    try:
        return unseal(key, stored[len(head) :], _aad(table, column, row_id))
    except DecryptionFailed:
        raise DecryptionFailed(
            f"{table}.{column} of row {row_id} could not be decrypted "
            "(moved from another row or column, tampered with, or its case key was destroyed)"
        ) from None


def wrap_key(master: bytes, data_key: bytes, *, case_id: int) -> bytes:
    """Encrypt a case's data key under a master key, bound to the case id."""
    return seal(master, data_key, f"homeward:case-key:{case_id}".encode())


def wrap_keys(master: bytes, data_keys: Mapping[int, bytes]) -> dict[int, bytes]:
    """``wrap_key`` for many cases' keys under one master key (its cipher set up once)."""
    aead = AESGCM(master)
    out = {}
    for case_id, data_key in data_keys.items():
        nonce = os.urandom(NONCE_BYTES)
        aad = f"homeward:case-key:{case_id}".encode()
        out[case_id] = nonce + aead.encrypt(nonce, data_key, aad)
    return out


def unwrap_key(master: bytes, wrapped: bytes, *, case_id: int) -> bytes:
    """Recover a case's data key."""
    return unseal(master, wrapped, f"homeward:case-key:{case_id}".encode())


def normalise_for_match(*parts: str | None) -> str:
    """Case-, accent- and space-insensitive form: 'Ioana  Ştefănescu' == 'ioana stefanescu'."""
    words = []
    for part in parts:
        folded = (part or "").casefold()
        if folded.isascii():  # NFKD leaves ASCII as it is, and none of it is combining
            plain = folded
        else:
            folded = unicodedata.normalize("NFKD", folded)
            plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
        words.append(" ".join(plain.split()))
    return "|".join(words)


def blind_index(index_key: bytes, *parts: str | None) -> str:
    """Keyed HMAC-SHA256 of the normalised parts: equal people give equal tokens."""
    message = normalise_for_match(*parts).encode()
    keyed = _keyed(index_key).copy()  # keyed once, copied a token
    keyed.update(message)
    token: str = keyed.hexdigest()
    return token


@lru_cache(maxsize=4)
def _keyed(index_key: bytes) -> Any:
    """The HMAC keyed once; OpenSSL's own object under the wrapper when there is one (its
    copy, one a token, skips the wrapper's Python; copy, update and hexdigest alike)."""
    keyed = hmac.new(index_key, digestmod=hashlib.sha256)
    return getattr(keyed, "_hmac", None) or keyed
