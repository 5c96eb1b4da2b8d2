"""The local admin token: who may use the admin routes of ``qnabot serve``.

In AWS, API Gateway's Cognito authorizer guards the admin API. Locally there is no user pool,
so ``serve`` generates one random bearer token on first start, keeps it in
``$QNABOT_HOME/admin-token`` readable by its owner only (0600), and prints it once. The pages
and scripts send it as ``Authorization: Bearer <token>``.

Example:
    >>> import tempfile, pathlib
    >>> home = pathlib.Path(tempfile.mkdtemp())
    >>> token, created = load_or_create_token(home)
    >>> created, is_authorized(f"Bearer {token}", token), is_authorized("Bearer nope", token)
    (True, True, False)
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_FILE = "admin-token"


def token_path(home: Path) -> Path:
    """Where the token of the data folder ``home`` is kept."""
    return home / TOKEN_FILE


def load_or_create_token(home: Path) -> tuple[str, bool]:
    """The admin token of ``home`` and whether it was just created.

    A new token is written with owner-only permissions; an existing file that others can read
    is tightened to 0600 rather than trusted as it is.
    """
    path = token_path(home)
    try:
        token = path.read_text("utf-8").strip()
    except FileNotFoundError:
        token = ""
    if token:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return token, False
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL: two servers starting together cannot both write a token.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_token(home)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token, True


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header ('' when absent or another scheme)."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def is_authorized(authorization: str | None, token: str) -> bool:
    """True when the header carries ``token`` (compared in constant time)."""
    offered = bearer_token(authorization)
    return bool(token and offered) and hmac.compare_digest(offered.encode(), token.encode())


def token_authorizer(token: str):
    """An authorizer for the admin API that admits API Gateway events carrying ``token``.

    >>> token_authorizer("s3cret")({"headers": {"authorization": "Bearer s3cret"}})
    True
    """
    def authorize(event) -> bool:
        headers = event.get("headers") or {}
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        return is_authorized(value, token)
    return authorize
