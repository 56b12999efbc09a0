"""CSRF tokens for server-rendered forms: a signed double submit bound to the session.

The browser holds a random nonce in an HTTP-only cookie. Each form carries
HMAC-SHA256(nonce, session token): a page of another site can neither read the nonce nor
the session token, so it cannot forge the field, and a token minted for one session is
worthless in another (signing in changes it). Stateless, so any server process checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

NONCE_BYTES = 32


def new_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


def form_token(nonce: str, session_token: str | None) -> str:
    message = f"zhifu-form:{session_token or ''}".encode()
    return hmac.new(nonce.encode(), message, hashlib.sha256).hexdigest()


def valid(nonce: str | None, session_token: str | None, submitted: str | None) -> bool:
    """Whether a submitted form token matches the cookie nonce and the session."""
    if not nonce or not submitted:
        return False
    return hmac.compare_digest(form_token(nonce, session_token), submitted)
