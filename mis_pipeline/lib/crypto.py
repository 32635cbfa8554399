"""Envelope encryption and keyed pseudonyms. Pure functions over bytes: no database, no Dagster.

Each pupil's direct identifiers are sealed with AES-256-GCM under that pupil's own data key; the
data keys are stored wrapped (AES-256-GCM) by a master key that never touches the database.
Destroying one pupil's wrapped data key makes every sealed copy of that pupil unreadable, and a
new master key only means re-wrapping the small data keys, never re-encrypting the data.

Every ciphertext is bound to where it belongs (associated data such as the pupil key and table),
so a sealed value copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per message
_KEY_ID_LABEL = b"mis-pipeline master key id v1"


class KeyringError(Exception):
    """Base for key problems; messages name key ids (fingerprints), never key material."""


class InvalidMasterKeyError(KeyringError):
    pass


class WrongMasterKeyError(KeyringError):
    pass


class UnreadableCiphertextError(KeyringError):
    pass


def generate_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit master key and its public fingerprint (key id), which is safe to store and log."""

    material: bytes
    key_id: str

    @classmethod
    def from_bytes(cls, material: bytes) -> MasterKey:
        if len(material) != KEY_BYTES:
            raise InvalidMasterKeyError(f"a master key must be {KEY_BYTES} bytes, base64-encoded")
        fingerprint = hmac.digest(material, _KEY_ID_LABEL, "sha256")[:8].hex()
        return cls(material, fingerprint)

    @classmethod
    def parse(cls, text: str, source: str = "MIS_MASTER_KEY") -> MasterKey:
        """Decode a base64 (standard or URL-safe) key; the error names the source, never the value."""
        cleaned = text.strip()
        try:
            material = base64.urlsafe_b64decode(cleaned.replace("+", "-").replace("/", "_"))
        except (binascii.Error, ValueError):
            raise InvalidMasterKeyError(
                f"{source} is not base64: generate one with `mis-pipeline keys generate`"
            ) from None
        if len(material) != KEY_BYTES:
            raise InvalidMasterKeyError(
                f"{source} must decode to {KEY_BYTES} bytes (got {len(material)}): "
                "generate one with `mis-pipeline keys generate`"
            )
        return cls.from_bytes(material)

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey(key_id={self.key_id!r})"


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """AES-256-GCM: a fresh random nonce, then ciphertext and tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise UnreadableCiphertextError(
            "a sealed value does not open with its key (wrong key or tampered)"
        ) from None


@dataclass(frozen=True)
class Keyring:
    """The current master key, which wraps every new data key, and previous ones still accepted
    for unwrapping while a rotation re-wraps their data keys."""

    current: MasterKey
    previous: tuple[MasterKey, ...] = ()

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset({self.current.key_id, *(k.key_id for k in self.previous)})

    def wrap(self, data_key: bytes, key_ref: str) -> tuple[str, bytes]:
        return self.current.key_id, seal(self.current.material, data_key, _wrap_context(key_ref))

    def unwrap(self, key_id: str, wrapped: bytes, key_ref: str) -> bytes:
        master = self._by_id(key_id)
        try:
            return open_sealed(master.material, wrapped, _wrap_context(key_ref))
        except UnreadableCiphertextError:
            raise UnreadableCiphertextError(
                f"a data key wrapped by master key {key_id} does not unwrap"
            ) from None

    def _by_id(self, key_id: str) -> MasterKey:
        if key_id == self.current.key_id:
            return self.current
        for key in self.previous:
            if key.key_id == key_id:
                return key
        raise WrongMasterKeyError(
            f"data is wrapped by master key {key_id}, which is neither MIS_MASTER_KEY ({self.current.key_id}) "
            "nor in MIS_PREVIOUS_MASTER_KEYS"
        )


def _wrap_context(key_ref: str) -> bytes:
    return b"data-key\x1f" + key_ref.encode()


@dataclass(frozen=True)
class Pseudonymiser:
    """Keyed digests: stable internal keys that cannot be recomputed from identifiers without the
    secret, so a pupil key or a change digest reveals nothing to someone holding the database."""

    secret: bytes

    def pupil_key(self, school_urn: str, mis_id: str) -> str:
        """The pupil's internal key at one school, from the MIS's own id for the pupil (both
        connectors report it and it survives re-enrolment); never from the UPN."""
        return hmac.digest(self.secret, f"pupil\x1f{school_urn}\x1f{mis_id}".encode(), "sha256")[:16].hex()

    def digest(self, material: bytes) -> str:
        """A 128-bit keyed digest, e.g. of a row's values to tell a change without storing them."""
        return hashlib.blake2b(material, key=self.secret, digest_size=16).hexdigest()

    def __repr__(self) -> str:
        return "Pseudonymiser(<secret>)"
