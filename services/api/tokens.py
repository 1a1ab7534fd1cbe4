"""Bearer tokens: `plc_<id>_<secret>`, stored as the id and the SHA-256 of the secret.

The id makes lookup one primary-key read; the secret is 256 random bits, so a plain SHA-256 is
enough (no password-style stretching: nothing to guess), and only the hash is ever stored. The
token is shown once, when it is minted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from services.persistence import Database
from services.persistence.tokens import SqlTokenRepository, TokenRecord, TokenRole

PREFIX = "plc"
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})$")
ROLES: tuple[TokenRole, ...] = ("careers", "employer", "student", "admin")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(token id, secret), or None if `token` is not shaped like one of ours."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def matches(record: TokenRecord, secret: str) -> bool:
    return hmac.compare_digest(record.secret_sha256, digest(secret))


def mint(
    role: TokenRole,
    tenant: str | None,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    label: str = "",
) -> tuple[TokenRecord, str]:
    """A new token's record (to store) and the token itself (to hand over, once).

    ValueError if the tenant does not fit the role: careers, employer and student tokens name
    their school, provider or student; admin tokens name none."""
    if role == "admin" and tenant:
        raise ValueError("an admin token has no tenant")
    if role != "admin" and not tenant:
        kind = {"careers": "school", "employer": "provider", "student": "student"}[role]
        raise ValueError(f"a {role} token needs its tenant: the {kind} id")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = TokenRecord(
        token_id=token_id,
        role=role,
        tenant=tenant or None,
        secret_sha256=digest(secret),
        label=label,
        created_at=now,
        expires_at=expires_at,
    )
    return record, f"{PREFIX}_{token_id}_{secret}"


def create_token(
    db: Database,
    role: TokenRole,
    tenant: str | None,
    *,
    expires_in: dt.timedelta | None = None,
    label: str = "",
) -> tuple[TokenRecord, str]:
    """Mint a token and store its record; returns both (the token is not kept anywhere)."""
    now = db.clock()
    expires_at = None if expires_in is None else now + expires_in
    record, token = mint(role, tenant, now, expires_at, label)
    with db.unit_of_work() as uow:
        SqlTokenRepository(uow.session, db.clock).add(record)
        uow.commit()
    return record, token


def revoke_token(db: Database, token_id: str) -> TokenRecord:
    """Revoke a token now; NotFound if unknown."""
    with db.unit_of_work() as uow:
        record = SqlTokenRepository(uow.session, db.clock).revoke(token_id)
        uow.commit()
    return record


def find_token(db: Database, token_id: str) -> TokenRecord | None:
    with db.unit_of_work(snapshot=True) as uow:
        return SqlTokenRepository(uow.session, db.clock).get(token_id)
