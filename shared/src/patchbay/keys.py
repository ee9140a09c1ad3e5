"""Signing keys: derived from the operator's shared `state_key`, or made per process.

Replicas behind a load balancer must share `state_key` so that a cursor or a
multi-round request minted by one replica is accepted by another.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from pydantic import SecretStr

_PROCESS_KEY = os.urandom(32)


def derive(state_key: SecretStr | None, purpose: str) -> bytes:
    """A 32-byte key for `purpose`, distinct for each purpose."""
    master = state_key.get_secret_value().encode() if state_key is not None else _PROCESS_KEY
    return hmac.new(master, f"patchbay/{purpose}".encode(), hashlib.sha256).digest()
