"""The seal: a hash chain over the global sequence, so that any change to, insertion into or removal of stored
events behind the ledger's back shows at the first position it touches.

Each stored row is `kind (1 byte) + seal (32 bytes) + payload`, where seal(n) = H(seal(n-1), n, topic, payload)
and seal(0) is 32 zero bytes. H is SHA-256, or HMAC-SHA-256 with `SYNCLEDGER_SEAL_KEY` (kept outside the
database), so that someone who can edit the database cannot re-seal it.

Derived data (checkpoints, read-model batches) is sealed to the event seal at its position with the same H
(`derived_seal`), so it is trusted only while it belongs to exactly these events. A keyed ledger records the
key's fingerprint (`fingerprint`), never the key, so that a writer without the key is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os

GENESIS = bytes(32)
UNKEYED, KEYED = 1, 2
KEY_VARIABLE = "SYNCLEDGER_SEAL_KEY"


def configured_key() -> bytes | None:
    key = os.environ.get(KEY_VARIABLE)
    return key.encode() if key else None


def seal(previous: bytes, position: int, topic: str, payload: bytes, key: bytes | None) -> bytes:
    message = b"".join((previous, position.to_bytes(8, "big"), topic.encode(), b"\0", payload))
    if key is None:
        return hashlib.sha256(message).digest()
    return hmac.new(key, message, hashlib.sha256).digest()


def derived_seal(event_seal: bytes, what: str, position: int, parts: list[bytes], key: bytes | None) -> bytes:
    """The seal of data derived from the events up to `position` (`what` says which kind): bound to the event
    seal there, so that it is valid for these events only, and keyed like the events."""
    message = b"".join(
        (b"syncledger derived\0", what.encode(), b"\0", event_seal, position.to_bytes(8, "big"))
        + tuple(len(p).to_bytes(8, "big") + p for p in parts)
    )
    if key is None:
        return hashlib.sha256(message).digest()
    return hmac.new(key, message, hashlib.sha256).digest()


def fingerprint(key: bytes) -> str:
    """What a keyed ledger records of its key: enough to tell a wrong key, useless to seal with."""
    return hmac.new(key, b"syncledger seal key fingerprint", hashlib.sha256).hexdigest()[:32]


def wrap(seal_value: bytes, payload: bytes, keyed: bool) -> bytes:
    return bytes((KEYED if keyed else UNKEYED,)) + seal_value + payload


def unwrap(state: bytes) -> tuple[int, bytes, bytes]:
    """(kind, seal, payload) of a stored row; ValueError if it is not a sealed row."""
    if isinstance(state, str):  # SQLite gives text when a row's storage class was changed, e.g. by replace()
        raise ValueError("the stored row is text, not bytes: it was changed with SQL behind the ledger's back")
    if len(state) < 33 or state[0] not in (UNKEYED, KEYED):
        raise ValueError("the stored row has no seal")
    return state[0], state[1:33], state[33:]
