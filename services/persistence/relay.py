"""The outbox relay: publish committed outbox rows, then mark them published.

Transport-agnostic: `publish(topic, key, value)` is any callable that delivers one message (the
Kafka adapter lives with the broker code). Delivery is at-least-once, by design:

- A row is marked published only after `publish` returned for it (and, when given, after
  `flush()` confirmed everything handed to the transport). The marks commit in the relay's own
  transaction.
- A crash after publishing but before that commit leaves the rows unmarked, so the next relay
  publishes the same events again, with the same `event_id`. Consumers are idempotent on
  `event_id` (see `AbstractUnitOfWork.mark_processed`), so a repeat has no second effect.
- A publish that fails stops the batch: rows after it are not attempted (they may share its key,
  and a key's events must stay in order), the rows before it are marked, and `PublishFailed`
  is raised. The failed row is retried on the next call.
- Rows go out in id order, which is commit order except for transactions that commit
  concurrently (their relative order is arbitrary anyway). On PostgreSQL the batch's rows are
  locked, so a second relay waits rather than publishing them too.
"""

from __future__ import annotations

from collections.abc import Callable

from matching.collector import collection_paused
from services.persistence.errors import PersistenceError
from services.persistence.unit_of_work import UnitOfWorkFactory

Publish = Callable[[str, str, bytes], None]  # (logical topic, key, JSON value)

DEFAULT_BATCH = 50_000  # a round publishes one event per allocation: tens of thousands
READ_CHUNK = 5_000  # a batch is read in parts, published as they come


class PublishFailed(PersistenceError):
    """`publish` raised; the messages before the failing one were marked published."""

    def __init__(self, message: str, published: int) -> None:
        super().__init__(message)
        self.published = published


def relay_once(
    uow_factory: UnitOfWorkFactory,
    publish: Publish,
    batch: int = DEFAULT_BATCH,
    flush: Callable[[], None] | None = None,
) -> int:
    """Publish up to `batch` unpublished messages in id order and mark them; return how many.

    The batch is read in parts of `READ_CHUNK` (in the same transaction, so its rows stay
    locked), each published before the next is read: a transport that sends while it is given
    more has the first messages out before the last are read. `flush`, when given, is called
    once after the batch and before marking: use it when `publish` only hands messages to a
    buffering producer, so a row is never marked before the broker has it. If `flush` raises,
    nothing in the batch is marked.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    with uow_factory() as uow:
        delivered: list[int] = []
        failure: Exception | None = None
        after: int | None = None
        with collection_paused():  # not while waiting for the broker below
            while failure is None and len(delivered) < batch:
                wanted = min(READ_CHUNK, batch - len(delivered))
                messages = uow.outbox.unpublished(wanted, after=after)
                for message in messages:
                    try:
                        publish(message.topic, message.key, message.payload)
                    except Exception as e:  # the transport's errors are not ours to enumerate
                        failure = e
                        failed = message
                        break
                    delivered.append(message.id)
                if len(messages) < wanted:
                    break
                after = messages[-1].id
        if delivered:
            if flush is not None:
                flush()
            uow.outbox.mark_published(delivered)
            uow.commit()
    if failure is not None:
        raise PublishFailed(
            f"publishing outbox message {failed.id} (event {failed.event_id}) to "
            f"{failed.topic} failed after {len(delivered)} in this batch: {failure}",
            published=len(delivered),
        ) from failure
    return len(delivered)


def relay_pending(
    uow_factory: UnitOfWorkFactory,
    publish: Publish,
    batch: int = DEFAULT_BATCH,
    flush: Callable[[], None] | None = None,
) -> int:
    """Relay batches until the outbox has nothing unpublished; return how many were published."""
    total = 0
    while True:
        sent = relay_once(uow_factory, publish, batch, flush)
        total += sent
        if sent < batch:
            return total
