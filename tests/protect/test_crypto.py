"""Field encryption and the keyring, on real keys (no database needed)."""

from __future__ import annotations

import base64
import json
import os
import stat
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward.base.errors import Conflict
from homeward.crypt import crypto
from homeward.crypt.keys import (
    KeysMissing,
    begin_rotation,
    init_keyring,
    load_keyring,
    retire_old_keys,
)


def test_roundtrip_and_binding_to_table_column_and_row():
    key = crypto.new_key()
    stored = crypto.encrypt_field(key, "Ioana", table="beneficiary", column="given_name", row_id=7)
    assert stored.startswith("hw1:") and "Ioana" not in stored
    assert (
        crypto.decrypt_field(key, stored, table="beneficiary", column="given_name", row_id=7)
        == "Ioana"
    )
    for table, column, row_id in [
        ("beneficiary", "given_name", 8),
        ("beneficiary", "family_name", 7),
        ("checklist_item", "given_name", 7),
    ]:
        with pytest.raises(crypto.DecryptionFailed, match="could not be decrypted"):
            crypto.decrypt_field(key, stored, table=table, column=column, row_id=row_id)


def test_swapped_ciphertexts_fail_and_tampering_fails():
    key = crypto.new_key()
    a = crypto.encrypt_field(key, "Ana", table="beneficiary", column="given_name", row_id=1)
    b = crypto.encrypt_field(key, "Maria", table="beneficiary", column="given_name", row_id=2)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_field(key, b, table="beneficiary", column="given_name", row_id=1)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_field(key, a, table="beneficiary", column="given_name", row_id=2)
    raw = bytearray(base64.b64decode(a[4:]))
    raw[-1] ^= 1
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_field(
            key,
            "hw1:" + base64.b64encode(bytes(raw)).decode(),
            table="beneficiary",
            column="given_name",
            row_id=1,
        )
    with pytest.raises(crypto.DecryptionFailed):  # another case's key
        crypto.decrypt_field(
            crypto.new_key(), a, table="beneficiary", column="given_name", row_id=1
        )


def test_100k_encryptions_never_repeat_a_nonce():
    key = crypto.new_key()
    nonces = {crypto.seal(key, b"x", b"aad")[: crypto.NONCE_BYTES] for _ in range(100_000)}
    assert len(nonces) == 100_000


def test_wrapped_case_keys_are_bound_to_their_case():
    master, data_key = crypto.new_key(), crypto.new_key()
    wrapped = crypto.wrap_key(master, data_key, case_id=5)
    assert crypto.unwrap_key(master, wrapped, case_id=5) == data_key
    with pytest.raises(crypto.DecryptionFailed):
        crypto.unwrap_key(master, wrapped, case_id=6)


@given(st.text(max_size=300))
def test_any_text_roundtrips(value):
    key = b"k" * 32
    stored = crypto.encrypt_field(key, value, table="t", column="c", row_id=1)
    assert crypto.decrypt_field(key, stored, table="t", column="c", row_id=1) == value


def test_blind_index_ignores_case_accents_and_spacing_but_needs_the_key():
    key = crypto.new_key()
    one = crypto.blind_index(key, "Ioana  Maria", "Ştefănescu", "2001-02-03")
    assert one == crypto.blind_index(key, "ioana maria", "STEFANESCU", "2001-02-03")
    assert one != crypto.blind_index(key, "Ioana Maria", "Stefanescu", "2001-02-04")
    assert one != crypto.blind_index(crypto.new_key(), "Ioana Maria", "Stefanescu", "2001-02-03")


def test_several_fields_encrypted_at_once_are_each_bound_to_their_column():
    """``encrypt_fields`` (the bulk import's): each value as ``encrypt_field`` stores it, with
    its own nonce; None stays None."""
    key = crypto.new_key()
    values = {"given_name": "Ioana", "family_name": "Ioana", "phone": None}
    stored = crypto.encrypt_fields(key, values, table="beneficiary", row_id=7)
    assert stored["phone"] is None
    assert stored["given_name"] != stored["family_name"]  # the same text, another nonce
    for column in ("given_name", "family_name"):
        text = stored[column] or ""
        assert text.startswith("hw1:") and "Ioana" not in text
        got = crypto.decrypt_field(key, text, table="beneficiary", column=column, row_id=7)
        assert got == "Ioana"
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_field(
            key, stored["given_name"] or "", table="beneficiary", column="family_name", row_id=7
        )


def test_keys_wrapped_at_once_are_each_bound_to_their_case():
    master = crypto.new_key()
    keys = {5: crypto.new_key(), 6: crypto.new_key()}
    wrapped = crypto.wrap_keys(master, keys)
    assert {c: crypto.unwrap_key(master, w, case_id=c) for c, w in wrapped.items()} == keys
    with pytest.raises(crypto.DecryptionFailed):
        crypto.unwrap_key(master, wrapped[5], case_id=6)


@given(st.lists(st.text(max_size=40), min_size=1, max_size=3))
def test_the_blind_index_of_ascii_text_is_its_full_normal_form(parts):
    """The short way for ASCII text gives what NFKD and dropping combining marks give."""

    def full(part: str) -> str:
        folded = unicodedata.normalize("NFKD", part.casefold())
        plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
        return " ".join(plain.split())

    assert crypto.normalise_for_match(*parts) == "|".join(full(p) for p in parts)


def test_keyring_is_private_refuses_overwrite_and_explains_when_missing(tmp_path):
    path = init_keyring(tmp_path / "keys.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = load_keyring(path)
    assert len(keyring.active_master) == 32 and keyring.index != keyring.audit
    with pytest.raises(Conflict, match="left untouched"):
        init_keyring(path)
    with pytest.raises(KeysMissing, match="homeward keys init"):
        load_keyring(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text(json.dumps({"active": "x"}))
    (tmp_path / "bad.json").chmod(0o600)  # private, so what is refused is its content
    with pytest.raises(KeysMissing, match="damaged"):
        load_keyring(tmp_path / "bad.json")


def test_the_keyring_held_in_memory_follows_every_change_of_its_file_at_once(tmp_path):
    """A process keeps the keyring it read, but a rotation, a restore of another file, an edit
    in place or a chmod is seen by the very next use, never one use late."""
    path = init_keyring(tmp_path / "keys.json")
    first = load_keyring(path)
    assert load_keyring(path) is first  # the same file: not read again

    new_id = begin_rotation(path)  # writes a new file and renames it over the old one
    rotated = load_keyring(path)
    assert rotated.active == new_id != first.active
    assert set(rotated.master_keys) == {first.active, new_id}
    assert retire_old_keys(path) == [first.active]
    assert set(load_keyring(path).master_keys) == {new_id}

    other = init_keyring(tmp_path / "other.json")  # a restore puts another keyring in place
    os.replace(other, path)
    assert load_keyring(path).audit != first.audit

    ring = json.loads(path.read_text())  # edited in place, same size, same inode
    ring["active"] = ring["active"][:-1] + ("0" if ring["active"][-1] != "0" else "1")
    inode = path.stat().st_ino
    with path.open("r+", encoding="utf-8") as handle:
        handle.write(json.dumps(ring, indent=2))
        handle.truncate()
    assert path.stat().st_ino == inode
    with pytest.raises(KeysMissing, match="master key"):
        load_keyring(path).active_master  # noqa: B018 (the edited active id names no key)

    path.chmod(0o644)
    with pytest.raises(KeysMissing, match="readable by others"):
        load_keyring(path)
    path.chmod(0o600)
    path.unlink()
    with pytest.raises(KeysMissing, match="homeward keys init"):
        load_keyring(path)


def test_no_key_shows_in_a_keyrings_repr(tmp_path):
    keyring = load_keyring(init_keyring(tmp_path / "keys.json"))
    shown = f"{keyring!r} {keyring!s}"
    for key in (keyring.audit_key, keyring.index_key, *keyring.master_keys.values()):
        assert key not in shown
    assert keyring.active in shown  # a key's id is not a key
