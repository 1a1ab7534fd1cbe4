"""Who is calling, and what they may see: every role and tenancy check of the API is here.

A bearer token names a role and a tenant:

| role     | tenant     | may use                                                         |
|----------|------------|-----------------------------------------------------------------|
| careers  | school id  | its school's routes, and the student routes of its students     |
| employer | provider id| its offers, and the students allocated to them                  |
| student  | student id | their own student routes                                        |
| admin    | none       | everything                                                      |

Routes declare what they touch with the dependencies at the bottom (`SchoolAccess`,
`ProviderAccess`, `StudentAccess`, `OfferAccess`, `RoundAccess`), which read the path parameter
and refuse the call before the handler runs: 401 for a missing or bad token, 403 for another
role or tenant. What a body names (an offer's provider, a round's schools) goes through the same
`authorize_*` functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api import tokens
from services.api.context import ApiContext, get_context
from services.api.errors import forbidden, not_found, unauthorized
from services.persistence import OfferRecord, RoundRecord
from services.persistence.tokens import SqlTokenRepository


class Role(StrEnum):
    CAREERS = "careers"
    EMPLOYER = "employer"
    STUDENT = "student"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: Role
    tenant: str | None

    @property
    def source(self) -> str:
        """The `source` of the events this caller publishes: who did it, for the audit."""
        return f"placement-api:{self.role.value}:{self.token_id}"


_bearer = HTTPBearer(
    auto_error=False,
    description="`plc_<id>_<secret>`, minted with `placement token create`",
)
Context = Annotated[ApiContext, Depends(get_context)]


def authenticate(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a valid token; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("a bearer token is required (Authorization: Bearer plc_...)")
    parsed = tokens.parse(credentials.credentials)
    if parsed is None:
        raise unauthorized("the bearer token is malformed")
    token_id, secret = parsed
    with context.read() as uow:
        record = SqlTokenRepository(uow.session, context.db.clock).get(token_id)
    if record is None or not tokens.matches(record, secret):
        raise unauthorized("the bearer token is not valid")
    now = context.now()
    if record.revoked_at is not None and record.revoked_at <= now:
        raise unauthorized("the bearer token was revoked")
    if not record.usable_at(now):
        raise unauthorized(f"the bearer token expired at {record.expires_at:%Y-%m-%d %H:%M} UTC")
    return Principal(token_id=record.token_id, role=Role(record.role), tenant=record.tenant)


Caller = Annotated[Principal, Depends(authenticate)]


# -- the checks ------------------------------------------------------------------------------


def _role(principal: Principal, *roles: Role) -> None:
    if principal.role is Role.ADMIN or principal.role in roles:
        return
    names = " or ".join(f"{r.value}" for r in roles)
    raise forbidden(f"this route is for {names} tokens; yours is a {principal.role.value} token")


def authorize_school(principal: Principal, school_id: str, field: str = "school_id") -> None:
    """A careers team of this school (or admin)."""
    _role(principal, Role.CAREERS)
    if principal.role is Role.CAREERS and principal.tenant != school_id:
        raise forbidden(f"your token is for school {principal.tenant}, not {school_id}", field)


def authorize_provider(principal: Principal, provider_id: str, field: str = "provider_id") -> None:
    """The employer or institution itself (or admin)."""
    _role(principal, Role.EMPLOYER)
    if principal.role is Role.EMPLOYER and principal.tenant != provider_id:
        raise forbidden(f"your token is for provider {principal.tenant}, not {provider_id}", field)


def authorize_student(
    principal: Principal, student_id: str, school_id: str | None, field: str = "student_id"
) -> None:
    """The student themself, the careers team of their school (`school_id`, None when the
    student is not registered), or admin."""
    _role(principal, Role.STUDENT, Role.CAREERS)
    if principal.role is Role.STUDENT and principal.tenant != student_id:
        raise forbidden(f"your token is for student {principal.tenant}, not {student_id}", field)
    if principal.role is Role.CAREERS and (school_id is None or principal.tenant != school_id):
        raise forbidden(
            f"your token is for school {principal.tenant}; student {student_id} is not one of "
            "its students",
            field,
        )


def authorize_round_request(
    principal: Principal, scope: str, school_ids: tuple[str, ...]
) -> tuple[str, ...]:
    """The schools of a round a caller may request: a careers team runs its own school's
    rounds (scope school, its school named or implied); admin runs any."""
    _role(principal, Role.CAREERS)
    if principal.role is Role.ADMIN:
        return school_ids
    assert principal.tenant is not None
    if scope != "school":
        raise forbidden("a careers team runs rounds of scope school (its own school)", "scope")
    if school_ids not in ((), (principal.tenant,)):
        raise forbidden(f"your token is for school {principal.tenant}", "school_ids")
    return (principal.tenant,)


def authorize_round(principal: Principal, record: RoundRecord, student_schools: set[str]) -> None:
    """A round of the careers team's own school (a re-match: of its students only)."""
    _role(principal, Role.CAREERS)
    if principal.role is Role.ADMIN:
        return
    schools = set(record.school_ids) if record.scope != "students" else student_schools
    if record.scope == "all" or schools != {principal.tenant}:
        raise forbidden(
            f"your token is for school {principal.tenant}; round {record.round_id} is not one "
            "of its rounds",
            "round_id",
        )


# -- the dependencies routes declare --------------------------------------------------------

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"


def _id_param(description: str) -> object:
    return Path(min_length=1, max_length=64, pattern=ID_PATTERN, description=description)


SchoolId = Annotated[str, _id_param("the school's id")]
ProviderId = Annotated[str, _id_param("the employer's or institution's id")]
StudentId = Annotated[str, _id_param("the student's id")]
OfferId = Annotated[str, _id_param("the offer's id")]
RoundId = Annotated[str, _id_param("the round's id")]


@dataclass(frozen=True)
class School:
    principal: Principal
    school_id: str


@dataclass(frozen=True)
class Provider:
    principal: Principal
    provider_id: str


@dataclass(frozen=True)
class StudentScope:
    principal: Principal
    student_id: str


def _school(principal: Caller, school_id: SchoolId) -> School:
    authorize_school(principal, school_id)
    return School(principal, school_id)


def _provider(principal: Caller, provider_id: ProviderId) -> Provider:
    authorize_provider(principal, provider_id)
    return Provider(principal, provider_id)


def _student(principal: Caller, context: Context, student_id: StudentId) -> StudentScope:
    _role(principal, Role.STUDENT, Role.CAREERS)
    school_id = None
    if principal.role is Role.CAREERS:
        with context.read() as uow:
            student = uow.students.get(student_id)
        school_id = None if student is None else student.school_id
    authorize_student(principal, student_id, school_id)
    return StudentScope(principal, student_id)


@dataclass(frozen=True)
class OfferScope:
    principal: Principal
    record: OfferRecord


def _offer(principal: Caller, context: Context, offer_id: OfferId) -> OfferScope:
    _role(principal, Role.EMPLOYER)
    with context.read() as uow:
        record = uow.offers.get_record(offer_id)
    if record is None:
        raise not_found(f"offer {offer_id} is unknown", "offer_id")
    authorize_provider(principal, record.offer.provider_id, "offer_id")
    return OfferScope(principal, record)


def _round(principal: Caller, context: Context, round_id: RoundId) -> RoundRecord:
    _role(principal, Role.CAREERS)
    with context.read() as uow:
        record = uow.rounds.get(round_id)
        schools: set[str] = set()
        if record is not None and record.scope == "students":
            found = uow.students.get_many(record.student_ids)
            schools = {s.school_id for s in found.values()}
    if record is None:
        raise not_found(
            f"round {round_id} is unknown (a new round appears once a worker takes it up)",
            "round_id",
        )
    authorize_round(principal, record, schools)
    return record


SchoolAccess = Annotated[School, Depends(_school)]
ProviderAccess = Annotated[Provider, Depends(_provider)]
StudentAccess = Annotated[StudentScope, Depends(_student)]
OfferAccess = Annotated[OfferScope, Depends(_offer)]
RoundAccess = Annotated[RoundRecord, Depends(_round)]
