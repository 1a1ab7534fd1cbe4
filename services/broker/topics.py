"""The topic catalogue: every topic, the key its messages carry and why, and provisioning.

Kafka keeps order only within a partition, and a key always maps to the same partition. So each
topic is keyed by the id whose events must be seen in order by the agent that keeps state for it.
students, preferences, attendance and allocations are all keyed by student id and share one
partition count, so partition N of each holds the same students (co-partitioned): a worker that
owns partition N sees a student's registration, ranking, allocation and attendance together.

Names here are short (`students`); the broker's name is `settings.topic(name)`, with the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from schemas.events import (
    AllocationMade,
    AllocationProposed,
    AllocationRevoked,
    AttendanceRecorded,
    CoverageAlert,
    CoverageUpdated,
    DeadLettered,
    Envelope,
    HostAgainAnswered,
    InterviewDecided,
    OfferSubmitted,
    OfferWithdrawn,
    OverrideRemoved,
    PairForbidden,
    PairPinned,
    PreferencesRanked,
    ReflectionSubmitted,
    RiskCleared,
    RiskFlagged,
    RoundCompleted,
    RoundRequested,
    StudentRegistered,
)
from services.broker.connection import admin_client, unreachable
from services.broker.errors import BrokerUnavailable, UnknownTopic
from services.settings import Settings

DEAD_LETTER = "dead-letter"
ALLOCATIONS = "allocations"  # where the allocation events go (`route`)
_TOPIC_ALREADY_EXISTS = 36  # Kafka error code: another worker created it first, which is fine
_READY_TIMEOUT_MS = 10_000  # new topics must show a leader for every partition within this


@dataclass(frozen=True)
class Topic:
    name: str
    key: str  # what the message key is
    why: str  # why that key: whose events must stay in order


TOPICS: tuple[Topic, ...] = (
    Topic(
        "students",
        "student_id",
        "a re-registration replaces the earlier one, so a student's records stay in order",
    ),
    Topic(
        "offers",
        "offer_id",
        "an edit, a withdrawal or the host's feedback must follow the submission of the offer",
    ),
    Topic(
        "preferences",
        "student_id",
        "a student's later ranking (or pin, forbid) replaces the earlier one; co-partitioned",
    ),
    Topic(
        "attendance",
        "student_id",
        "a student's interview, attendance, debriefs and reflection stay in order; co-partitioned",
    ),
    Topic(
        "rounds",
        "round_id",
        "every command for a round reaches the one worker that runs it, in order",
    ),
    Topic(
        "allocations",
        "student_id",
        "a revocation must follow the allocation it revokes; co-partitioned with students",
    ),
    Topic(
        "risks",
        "offer_id",
        "every risk has an offer (not always a student); a clear must follow its flag",
    ),
    Topic(
        "coverage",
        "school_id",
        "a school's updates stay in order, so the last one read is its current coverage",
    ),
    Topic(
        DEAD_LETTER,
        "the original key",
        "a repaired event replayed to its topic lands on its original partition",
    ),
)
_BY_NAME = {topic.name: topic for topic in TOPICS}


def topic_named(name: str, settings: Settings | None = None) -> Topic:
    """The catalogue entry for `students` (or, given settings, `placement.students`)."""
    if settings is not None and name.startswith(settings.topic_prefix) and name not in _BY_NAME:
        name = name.removeprefix(settings.topic_prefix)
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise UnknownTopic(f"no topic {name!r} in the catalogue (known: {known})") from None


def route(event: Envelope) -> tuple[str, str]:
    """The topic (short name) and message key of an event."""
    match event:
        case StudentRegistered():
            return "students", event.student.student_id
        case OfferSubmitted():
            return "offers", event.offer.offer_id
        case OfferWithdrawn() | HostAgainAnswered():
            return "offers", event.offer_id
        case PreferencesRanked():
            return "preferences", event.preferences.student_id
        case PairPinned() | PairForbidden() | OverrideRemoved():
            return "preferences", event.student_id
        case AttendanceRecorded() | InterviewDecided() | ReflectionSubmitted():
            return "attendance", event.student_id
        case RoundRequested() | RoundCompleted():
            return "rounds", event.round_id
        case AllocationMade() | AllocationProposed():
            return ALLOCATIONS, event.allocation.student_id
        case AllocationRevoked():
            return ALLOCATIONS, event.student_id
        case RiskFlagged() | RiskCleared():
            return "risks", event.offer_id
        case CoverageUpdated() | CoverageAlert():
            return "coverage", event.school_id
        case DeadLettered():
            return DEAD_LETTER, event.key or ""
    raise UnknownTopic(f"no topic carries {type(event).__name__} events")


def provision(settings: Settings) -> list[str]:
    """Create every catalogue topic the broker lacks; return the names created.

    Partitions and replication come from settings. Existing topics are left as they are, so this
    is safe to run at every start-up and from several workers at once.
    """
    wanted = {settings.topic(topic.name) for topic in TOPICS}
    with admin_client(settings) as admin:
        missing = sorted(wanted - set(admin.list_topics()))
        if not missing:
            return []
        spec = {
            "num_partitions": settings.topic_partitions,
            "replication_factor": settings.topic_replication,
        }
        response = admin.create_topics({name: spec for name in missing}, raise_errors=False)
        _check_created(response)
        try:
            admin.wait_for_topics(missing, timeout_ms=_READY_TIMEOUT_MS)
        except KafkaError as error:
            raise unreachable(settings, error) from None
    return missing


def _check_created(response: dict[str, Any]) -> None:
    for result in response["topics"]:
        code = result["error_code"]
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            message = result.get("error_message") or f"error code {code}"
            raise BrokerUnavailable(f"cannot create topic {result['name']}: {message}")
