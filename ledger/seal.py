"""The seal: a hash chain over the global sequence, so that any change to, insertion into or removal of stored
events behind the ledger's back shows at the first position it touches.

Each stored row is `kind (1 byte) + seal (32 bytes) + payload`, where seal(n) = H(seal(n-1), n, topic, payload)
and seal(0) is 32 zero bytes. H is SHA-256, or HMAC-SHA-256 with `SYNCLEDGER_SEAL_KEY` (kept outside the
database), so that someone who can edit the database cannot re-seal it.
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


def wrap(seal_value: bytes, payload: bytes, keyed: bool) -> bytes:
    return bytes((KEYED if keyed else UNKEYED,)) + seal_value + payload


def unwrap(state: bytes) -> tuple[int, bytes, bytes]:
    """(kind, seal, payload) of a stored row; ValueError if it is not a sealed row."""
    if len(state) < 33 or state[0] not in (UNKEYED, KEYED):
        raise ValueError("the stored row has no seal")
    return state[0], state[1:33], state[33:]
