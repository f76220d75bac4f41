"""Field encryption and the keyring, on real keys (no database needed)."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward.base.errors import Conflict
from homeward.crypt import crypto
from homeward.crypt.keys import KeysMissing, init_keyring, load_keyring


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
