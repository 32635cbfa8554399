import base64

import pytest

from mis_pipeline.lib.crypto import (
    InvalidMasterKeyError,
    Keyring,
    MasterKey,
    Pseudonymiser,
    UnreadableCiphertextError,
    WrongMasterKeyError,
    encode_key,
    generate_key,
    open_sealed,
    seal,
)


def test_a_sealed_value_opens_with_its_key_and_context():
    key = generate_key()
    sealed = seal(key, "Siobhán D'Souza".encode(), b"pupils\x1fk1")
    assert open_sealed(key, sealed, b"pupils\x1fk1").decode() == "Siobhán D'Souza"


def test_sealing_the_same_value_twice_gives_different_ciphertexts():
    key = generate_key()
    assert seal(key, b"same", b"ctx") != seal(key, b"same", b"ctx")


@pytest.mark.parametrize("wrong", ["key", "context", "tampered"])
def test_a_sealed_value_does_not_open_with_another_key_context_or_after_tampering(wrong):
    key = generate_key()
    sealed = seal(key, b"value", b"pupils\x1fk1")
    other_key = generate_key() if wrong == "key" else key
    context = b"pupils\x1fk2" if wrong == "context" else b"pupils\x1fk1"
    if wrong == "tampered":
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UnreadableCiphertextError):
        open_sealed(other_key, sealed, context)


def test_a_master_key_parses_from_standard_or_url_safe_base64_with_the_same_id():
    material = bytes(range(32))
    standard = base64.b64encode(material).decode()
    url_safe = base64.urlsafe_b64encode(material).decode()
    assert (
        MasterKey.parse(standard).key_id
        == MasterKey.parse(url_safe).key_id
        == MasterKey.from_bytes(material).key_id
    )
    assert len(MasterKey.from_bytes(material).key_id) == 16


@pytest.mark.parametrize(
    "text, message",
    [
        ("not base64!", "MIS_MASTER_KEY is not base64"),
        (base64.b64encode(b"short").decode(), "MIS_MASTER_KEY must decode to 32 bytes (got 5)"),
    ],
)
def test_a_bad_master_key_is_refused_without_echoing_it(text, message):
    with pytest.raises(InvalidMasterKeyError) as raised:
        MasterKey.parse(text)
    assert str(raised.value).startswith(message)
    assert text not in str(raised.value)


def test_a_master_key_never_prints_its_material():
    key = MasterKey.parse(encode_key(generate_key()))
    assert encode_key(key.material) not in repr(key) and key.key_id in repr(key)


def test_a_data_key_unwraps_under_the_key_that_wrapped_it_even_after_a_new_current_key():
    old, new = MasterKey.from_bytes(generate_key()), MasterKey.from_bytes(generate_key())
    data_key = generate_key()
    key_id, wrapped = Keyring(old).wrap(data_key, "k1")
    assert key_id == old.key_id
    assert Keyring(new, (old,)).unwrap(key_id, wrapped, "k1") == data_key


def test_a_data_key_wrapped_by_an_unknown_master_key_names_both_key_ids():
    old, new = MasterKey.from_bytes(generate_key()), MasterKey.from_bytes(generate_key())
    key_id, wrapped = Keyring(old).wrap(generate_key(), "k1")
    with pytest.raises(WrongMasterKeyError) as raised:
        Keyring(new).unwrap(key_id, wrapped, "k1")
    assert old.key_id in str(raised.value) and new.key_id in str(raised.value)


def test_a_wrapped_data_key_is_bound_to_its_owner():
    ring = Keyring(MasterKey.from_bytes(generate_key()))
    key_id, wrapped = ring.wrap(generate_key(), "pupil-a")
    with pytest.raises(UnreadableCiphertextError):
        ring.unwrap(key_id, wrapped, "pupil-b")


def test_pupil_keys_are_stable_per_secret_and_differ_by_school_and_secret():
    secret = generate_key()
    keys = Pseudonymiser(secret)
    assert keys.pupil_key("100001", "4521") == Pseudonymiser(secret).pupil_key("100001", "4521")
    assert keys.pupil_key("100001", "4521") != keys.pupil_key("100002", "4521")
    assert keys.pupil_key("100001", "4521") != Pseudonymiser(generate_key()).pupil_key("100001", "4521")
    assert len(keys.pupil_key("100001", "4521")) == 32
