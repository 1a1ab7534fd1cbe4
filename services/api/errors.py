"""Errors as JSON: `{"detail": ..., "field": ...}`, naming the field at fault and why.

- 401: no token, or a token that is malformed, unknown, revoked or expired (with
  `WWW-Authenticate: Bearer`);
- 403: a valid token for another role or another tenant;
- 404: an unknown record the caller may see;
- 409: valid input that conflicts with what is stored (a passed deadline, an ineligible ranking,
  a withdrawn offer);
- 422: invalid input: the field (a dotted path into the body, or a path parameter) and the
  reason; a bad import lists every problem in `errors`, each with its line;
- 503: the event stream is unavailable (nothing was published).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.broker import BrokerError

# Where FastAPI says a value came from: not part of the field's name.
_SOURCES = frozenset({"body", "path", "query", "header", "cookie"})
# Model validators of `schemas` start their message with the field they are about.
_FIELD_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*): ")


class Problem(BaseModel):
    field: str
    message: str
    line: int | None = None  # the line of an imported file


class ErrorBody(BaseModel):
    detail: str
    field: str | None = None
    errors: list[Problem] = []


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        field: str | None = None,
        *,
        errors: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.errors = list(errors)
        self.headers = dict(headers or {})


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str, field: str | None = None) -> ApiError:
    return ApiError(403, detail, field)


def not_found(detail: str, field: str | None = None) -> ApiError:
    return ApiError(404, detail, field)


def conflict(detail: str, field: str | None = None) -> ApiError:
    return ApiError(409, detail, field)


def invalid(detail: str, field: str | None = None) -> ApiError:
    return ApiError(422, detail, field)


def problems(error: ValidationError | RequestValidationError, prefix: str = "") -> list[Problem]:
    """Each validation problem with its dotted field and message."""
    out = []
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ())]
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        named = _FIELD_PREFIX.match(message)
        if named:
            loc.append(named.group(1))
            message = message[named.end() :]
        field = ".".join(part for part in (prefix, *loc) if part)
        out.append(Problem(field=field, message=message))
    return out


def from_validation(error: ValidationError | RequestValidationError, prefix: str = "") -> ApiError:
    found = problems(error, prefix) or [Problem(field=prefix, message="invalid")]
    first = found[0]
    detail = f"{first.field}: {first.message}" if first.field else first.message
    more = len(found) - 1
    if more:
        detail += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ApiError(422, detail, first.field or None, errors=found)


def _response(error: ApiError) -> JSONResponse:
    body = ErrorBody(detail=error.detail, field=error.field, errors=error.errors)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=error.status, headers=error.headers or None
    )


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _response(error)


async def _request_invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return _response(from_validation(error))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    headers: dict[str, Any] = dict(error.headers or {})
    return _response(ApiError(error.status_code, str(error.detail), headers=headers))


async def _broker_error(request: Request, error: Exception) -> JSONResponse:
    return _response(ApiError(503, f"the event stream is unavailable, nothing was sent: {error}"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(BrokerError, _broker_error)


# Documented on every route that takes a token (FastAPI adds 422 itself).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no token, or a bad, revoked or expired one"},
    403: {"model": ErrorBody, "description": "the token's role or tenant may not do this"},
    422: {"model": ErrorBody, "description": "invalid input: the field and the reason"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such record"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "conflicts with what is stored"}
}
