"""API tokens in the system of record: a record and a small repository over the unit of work's
session.

    with db.unit_of_work() as uow:
        tokens = SqlTokenRepository(uow.session, db.clock)
        tokens.add(record)
        uow.commit()

Only the SHA-256 of a token's secret is stored (see services/api/tokens.py for the format).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field
from sqlalchemy import select

from schemas.common import Frozen, Id
from services.persistence.errors import NotFound
from services.persistence.orm import ApiTokenRow
from services.persistence.sql.base import SqlRepository

TokenRole = Literal["careers", "employer", "student", "admin"]


class TokenRecord(Frozen):
    token_id: Id
    role: TokenRole
    tenant: Id | None = None  # school, provider or student id; None for admin
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    label: str = ""
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    def usable_at(self, moment: dt.datetime) -> bool:
        """Neither revoked nor expired at `moment`."""
        if self.revoked_at is not None and self.revoked_at <= moment:
            return False
        return self.expires_at is None or moment < self.expires_at


class SqlTokenRepository(SqlRepository):
    def add(self, token: TokenRecord) -> None:
        """Insert a new token. Conflict if the id exists."""
        self.session.add(ApiTokenRow(**token.model_dump()))
        self.session.flush()

    def get(self, token_id: str) -> TokenRecord | None:
        row = self.session.get(ApiTokenRow, token_id, populate_existing=True)
        return None if row is None else _token(row)

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke the token now (the first revocation is kept). NotFound if unknown."""
        row = self.session.get(ApiTokenRow, token_id, populate_existing=True)
        if row is None:
            raise NotFound(f"token {token_id} is unknown")
        if row.revoked_at is None:
            row.revoked_at = self.clock()
        return _token(row)

    def find(self) -> list[TokenRecord]:
        """Every token, by created_at then id."""
        query = select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.token_id)
        return [_token(row) for row in self.session.scalars(query)]


def _token(row: ApiTokenRow) -> TokenRecord:
    return TokenRecord.model_validate(
        {
            "token_id": row.token_id,
            "role": row.role,
            "tenant": row.tenant,
            "secret_sha256": row.secret_sha256,
            "label": row.label,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "revoked_at": row.revoked_at,
        }
    )
