"""The outbox relay: in order, marked once published, and at-least-once across a crash."""

from __future__ import annotations

import pytest

from schemas.events import ANY_EVENT, OfferWithdrawn
from services.persistence import PublishFailed, UnitOfWorkFactory, relay_once, relay_pending
from services.persistence import relay as relay_module

Sent = tuple[str, str, str]  # (topic, key, event_id)


class Crash(Exception):
    """Stands in for the process dying."""


def crash() -> None:
    """A flush that never returns: the process dies after publishing, before marking."""
    raise Crash


class Publisher:
    """A fake transport: records what it was given, and fails on the `fail_at`-th message."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[Sent] = []
        self.fail_at = fail_at

    def __call__(self, topic: str, key: str, value: bytes) -> None:
        if self.fail_at is not None and len(self.sent) + 1 == self.fail_at:
            self.fail_at = None  # the broker recovers for the next attempt
            raise ConnectionError("broker unavailable")
        self.sent.append((topic, key, ANY_EVENT.validate_json(value).event_id))


def _queue(uow_factory: UnitOfWorkFactory, n: int, start: int = 0) -> list[str]:
    """Commit n events to the outbox, one transaction each; return their event ids in order."""
    ids = []
    for i in range(start, start + n):
        event = OfferWithdrawn(offer_id=f"o{i}", event_id=f"ev-{i:03d}")
        with uow_factory() as uow:
            uow.outbox.add(event, "offers", key=event.offer_id)
            uow.commit()
        ids.append(event.event_id)
    return ids


def _pending(uow_factory: UnitOfWorkFactory) -> list[str]:
    with uow_factory() as uow:
        return [m.event_id for m in uow.outbox.unpublished(1000)]


def _ids(publisher: Publisher) -> list[str]:
    return [event_id for _, _, event_id in publisher.sent]


def test_the_relay_publishes_in_order_and_marks_each_message_published(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = _queue(uow_factory, 5)
    publish = Publisher()
    assert relay_once(uow_factory, publish, batch=10) == 5
    assert _ids(publish) == ids
    assert publish.sent[0] == ("offers", "o0", "ev-000")
    assert _pending(uow_factory) == []
    with uow_factory() as uow:
        message = uow.outbox.get("ev-004")
        assert message is not None and message.published_at is not None
    assert relay_once(uow_factory, publish) == 0
    assert len(publish.sent) == 5  # nothing is published twice in the normal course


def test_a_batch_is_bounded_and_relay_pending_drains_the_rest_in_order(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = _queue(uow_factory, 7)
    publish = Publisher()
    assert relay_once(uow_factory, publish, batch=3) == 3
    assert _pending(uow_factory) == ids[3:]
    assert relay_pending(uow_factory, publish, batch=3) == 4
    assert _ids(publish) == ids


def test_a_failed_publish_marks_what_went_before_and_the_rest_follows_next_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = _queue(uow_factory, 5)
    publish = Publisher(fail_at=3)
    with pytest.raises(PublishFailed) as failed:
        relay_once(uow_factory, publish, batch=10)
    assert failed.value.published == 2
    assert isinstance(failed.value.__cause__, ConnectionError)
    assert _ids(publish) == ids[:2]  # stopped at the failure: a key's order is kept
    assert _pending(uow_factory) == ids[2:]
    assert relay_once(uow_factory, publish, batch=10) == 3
    assert _ids(publish) == ids  # each exactly once, in order


def test_a_crash_between_publish_and_mark_republishes_only_the_unmarked_event_ids(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = _queue(uow_factory, 3)
    publish = Publisher()
    assert relay_once(uow_factory, publish, batch=2) == 2  # ev-000, ev-001 marked
    more = _queue(uow_factory, 2, start=3)
    with pytest.raises(Crash):
        relay_once(uow_factory, publish, batch=10, flush=crash)
    assert _pending(uow_factory) == [ids[2], *more]  # nothing of that batch was marked
    assert relay_once(uow_factory, publish, batch=10) == 3
    # at-least-once: the crashed batch went out twice with the same event ids, and only it did
    assert _ids(publish) == [*ids, *more, ids[2], *more]
    assert _pending(uow_factory) == []


def test_a_consumer_that_dedupes_by_event_id_applies_a_republished_event_once(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _queue(uow_factory, 2)
    delivered: list[bytes] = []

    def publish(topic: str, key: str, value: bytes) -> None:
        delivered.append(value)

    with pytest.raises(Crash):
        relay_once(uow_factory, publish, flush=crash)
    relay_once(uow_factory, publish)
    assert len(delivered) == 4
    applied = []
    for value in delivered:
        event = ANY_EVENT.validate_json(value)
        with uow_factory() as uow:
            if uow.mark_processed(event.event_id, "offers"):
                applied.append(event.event_id)
                uow.commit()
    assert applied == ["ev-000", "ev-001"]


def test_a_batch_longer_than_a_read_is_read_in_parts_published_in_order_and_marked(
    uow_factory: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "READ_CHUNK", 2)
    ids = _queue(uow_factory, 7)
    publish = Publisher()
    assert relay_once(uow_factory, publish, batch=5) == 5  # reads of 2, 2 and 1
    assert _ids(publish) == ids[:5]
    assert _pending(uow_factory) == ids[5:]
    assert relay_once(uow_factory, publish, batch=5) == 2
    assert _ids(publish) == ids


def test_unpublished_after_an_id_skips_the_messages_up_to_it(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = _queue(uow_factory, 4)
    with uow_factory() as uow:
        first = uow.outbox.unpublished(2)
        rest = uow.outbox.unpublished(10, after=first[-1].id)
        assert [m.event_id for m in rest] == ids[2:]
        assert uow.outbox.unpublished(10, after=rest[-1].id) == []
