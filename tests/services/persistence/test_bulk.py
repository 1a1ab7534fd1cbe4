"""Batched writes and memoised reads of the catalogue: one statement per batch, never stale.

Students and offers are written in one statement per batch and read back through a memo of the
models decoded from their rows; a row changed in any way (by another process, by SQL) is decoded
again, and a write rolled back leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from schemas import Allocation, Form, Insurance, LevelGroup, OfferKind, RiskCode, Sector
from services.persistence import (
    AllocationStatus,
    Database,
    RoundRecord,
    UnitOfWorkFactory,
)
from services.persistence.orm import ProcessedEventRow, StudentRow
from services.persistence.sql.base import IN_CHUNK, Skip, Upsert, insert_many
from tests import factories as f

DEADLINE = dt.datetime(2027, 2, 1, 9, 0, tzinfo=dt.UTC)
AT = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)


def test_offers_added_together_are_stored_the_last_one_of_each_winning(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.offers.add_many(
            [
                (f.offer("o1", capacity=1), None),
                (f.offer("o2", OfferKind.WORKPLACE_L2, insurance=None), DEADLINE),
                (f.offer("o1", capacity=3), DEADLINE),
            ]
        )
        uow.commit()
    with uow_factory() as uow:
        records = {r.offer.offer_id: r for r in uow.offers.records()}
    assert (records["o1"].offer.capacity, records["o1"].preference_deadline) == (3, DEADLINE)
    assert records["o2"].offer == f.offer("o2", OfferKind.WORKPLACE_L2, insurance=None)
    assert records["o2"].preference_deadline == DEADLINE


def test_offers_added_together_keep_their_withdrawal(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.offers.add_many([(f.offer("o1"), None), (f.offer("o2"), None)])
        uow.commit()
    with uow_factory() as uow:
        uow.offers.withdraw("o1", "closed")
        uow.commit()
    with uow_factory() as uow:
        uow.offers.add_many([(f.offer("o1", capacity=2), None), (f.offer("o2", capacity=2), None)])
        uow.commit()
    with uow_factory() as uow:
        o1, o2 = uow.offers.records()
    assert (o1.offer.capacity, o1.withdrawn, o1.withdrawal_reason) == (2, True, "closed")
    assert (o2.offer.capacity, o2.withdrawn) == (2, False)


def test_more_ids_than_one_in_list_holds_are_all_read(uow_factory: UnitOfWorkFactory) -> None:
    n = IN_CHUNK * 2 + 1
    students = [f.student(f"s{i:05}") for i in range(n)]
    offers = [f.offer(f"o{i:05}") for i in range(n)]
    with uow_factory() as uow:
        uow.students.add_many(students)
        uow.offers.add_many((o, None) for o in offers)
        uow.commit()
    with uow_factory() as uow:
        found = uow.students.get_many([s.student_id for s in students] + ["nobody"])
        records = uow.offers.get_records([o.offer_id for o in offers] + ["nothing"])
    assert found == {s.student_id: s for s in students}
    assert {i: r.offer for i, r in records.items()} == {o.offer_id: o for o in offers}


def test_a_row_changed_behind_the_repositorys_back_is_read_as_it_is_now(
    database: Database,
) -> None:
    with database.unit_of_work() as uow:
        uow.students.add(f.student("s1", form=Form.S4))
        uow.offers.add(f.offer("o1", capacity=1))
        uow.commit()
    with database.unit_of_work() as uow:  # read, and memoised
        assert uow.students.get("s1") == f.student("s1", form=Form.S4)
        assert uow.offers.get("o1") == f.offer("o1", capacity=1)
    with database.engine.begin() as connection:  # another writer
        connection.execute(
            text("UPDATE students SET form = 'S6', interests = '[\"retail_trade\"]'")
        )
        connection.execute(text("UPDATE offers SET capacity = 7"))

    with database.unit_of_work() as uow:
        assert uow.students.get("s1") == f.student(
            "s1", form=Form.S6, interests=(Sector.RETAIL_TRADE,)
        )
        assert uow.offers.get("o1") == f.offer("o1", capacity=7)
        assert uow.students.find() == [
            f.student("s1", form=Form.S6, interests=(Sector.RETAIL_TRADE,))
        ]


def test_a_write_rolled_back_is_not_read_back(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.students.add(f.student("s1"))
        uow.offers.add(f.offer("o1", capacity=1))
        uow.commit()
    with database.unit_of_work() as uow:
        uow.students.add(f.student("s1", form=Form.S6))
        uow.offers.add(f.offer("o1", capacity=9))
        assert uow.offers.get("o1") == f.offer("o1", capacity=9)  # in this transaction
        uow.rollback()

    with database.unit_of_work() as uow:
        assert uow.students.get("s1") == f.student("s1")
        assert uow.offers.get("o1") == f.offer("o1", capacity=1)


def test_an_offer_withdrawn_is_read_withdrawn_after_its_submission_was_memoised(
    database: Database,
) -> None:
    with database.unit_of_work() as uow:
        uow.offers.add(f.offer("o1"))
        assert uow.offers.get_record("o1") is not None
        uow.offers.withdraw("o1", "closed")
        record = uow.offers.get_record("o1")
        assert record is not None and record.withdrawal_reason == "closed"
        uow.commit()
    with database.unit_of_work() as uow:
        record = uow.offers.get_record("o1")
    assert record is not None and record.withdrawn and record.withdrawal_reason == "closed"


def test_json_columns_are_stored_as_compact_text(database: Database) -> None:
    student = f.student("s1", name="陳大文", interests=(Sector.HEALTHCARE, Sector.RETAIL_TRADE))
    insured = Insurance(insurer="HK Mutual", policy_number="P-1", valid_from=f.DAY, expires=f.DAY)
    with database.unit_of_work() as uow:
        uow.students.add(student)
        uow.offers.add_many([(f.offer("o1", insurance=None), None), (f.offer("o2"), None)])
        uow.offers.add(f.offer("o3", insurance=insured))
        uow.commit()
    with database.engine.connect() as connection:
        interests, name = connection.execute(
            text("SELECT CAST(interests AS TEXT), name FROM students")
        ).one()
        insurance = dict(
            connection.execute(text("SELECT offer_id, CAST(insurance AS TEXT) FROM offers")).all()
        )
    assert (interests, name) == ('["healthcare","retail_trade"]', "陳大文")
    assert insurance["o1"] in (None, "null")  # SQL NULL or JSON null: both read as None
    assert insurance["o3"] == insured.model_dump_json()
    with database.unit_of_work() as uow:
        assert uow.students.get("s1") == student
        assert [r.offer.insurance for r in uow.offers.records()] == [
            None,
            f.offer("o2").insurance,
            insured,
        ]


def test_insert_many_upserts_or_skips_and_returns_what_it_wrote(database: Database) -> None:
    rows = [{"event_id": f"e{i}", "topic": "t", "processed_at": AT} for i in range(3)]
    later = AT + dt.timedelta(hours=1)
    with database.unit_of_work() as uow:
        session = uow.session
        key = ("event_id",)
        written = insert_many(session, ProcessedEventRow, rows, Skip(key), "event_id")
        again = [{**row, "topic": "u"} for row in rows[1:]] + [
            {"event_id": "e9", "topic": "u", "processed_at": later}
        ]
        skipped = insert_many(session, ProcessedEventRow, again, Skip(key), "event_id")
        upserted = insert_many(session, ProcessedEventRow, again[:1], Upsert(key), "event_id")
        nothing = insert_many(session, ProcessedEventRow, [], Skip(key), "event_id")
        uow.commit()
    assert sorted(written) == ["e0", "e1", "e2"]
    assert skipped == ["e9"]
    assert upserted == ["e1"]
    assert nothing == []
    with database.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT event_id, topic FROM processed_events ORDER BY event_id")
        ).all()
    assert [tuple(r) for r in stored] == [("e0", "t"), ("e1", "u"), ("e2", "t"), ("e9", "u")]


def test_insert_many_refuses_a_naive_datetime(database: Database) -> None:
    row = {"event_id": "e1", "topic": "t", "processed_at": dt.datetime(2027, 1, 4, 9, 0)}
    with database.unit_of_work() as uow:
        try:
            insert_many(uow.session, ProcessedEventRow, [row])
        except Exception as error:  # ValueError, or SQLAlchemy's StatementError around it
            assert "naive datetime" in str(error)
        else:
            raise AssertionError("a naive datetime was stored")


def test_insert_many_writes_every_column_given_and_only_those(database: Database) -> None:
    student = f.student("s1")
    row = {
        "student_id": "s1",
        "school_id": "sch1",
        "form": "S5",
        "date_of_birth": student.date_of_birth,
        "subjects": ["biology", "chemistry"],
        "interests": ["healthcare"],
        "academic_band": 2,
        "parental_consent": True,
        "priority": False,
        "name": None,
        "prior_encounters": [],
        "updated_at": AT,
    }
    with database.unit_of_work() as uow:
        insert_many(uow.session, StudentRow, [row])
        uow.commit()
    with database.unit_of_work() as uow:
        assert uow.students.get("s1") == student


def test_a_deadline_given_in_another_time_zone_is_read_back_in_utc(database: Database) -> None:
    hong_kong = dt.timezone(dt.timedelta(hours=8))
    deadline = dt.datetime(2027, 2, 1, 17, 0, tzinfo=hong_kong)
    with database.unit_of_work() as uow:
        uow.offers.add(f.offer("o1"), deadline)
        uow.commit()
    with database.unit_of_work() as uow:
        record = uow.offers.get_record("o1")
    assert record is not None and record.preference_deadline == deadline
    assert record.preference_deadline.utcoffset() == dt.timedelta(0)


def test_allocations_read_again_unchanged_are_the_memoised_models_and_a_change_is_read_afresh(
    database: Database,
) -> None:
    risky = Allocation(
        student_id="s2",
        offer_id="o1",
        kind=OfferKind.WORKPLACE_L3,
        group=OfferKind.WORKPLACE_L3.group,
        rank=2,
        risks=(RiskCode.L3_NO_PREVISIT, RiskCode.NO_CONSENT),
    )
    plain = Allocation(
        student_id="s1", offer_id="o1", kind=OfferKind.WORKPLACE_L1, group=LevelGroup.B8_L1, rank=1
    )
    with database.unit_of_work() as uow:
        uow.students.add_many([f.student("s1"), f.student("s2")])
        uow.offers.add(f.offer("o1", capacity=2))
        uow.rounds.add(RoundRecord(round_id="r1"))
        uow.allocations.add("r1", [plain, risky])
        uow.commit()
    with database.unit_of_work() as uow:
        first = uow.allocations.find(round_id="r1")
    with database.unit_of_work() as uow:
        again = uow.allocations.find(round_id="r1")
    assert [a.allocation for a in first] == [plain, risky]  # risks read from their JSON text
    assert all(a is b for a, b in zip(first, again, strict=True))

    with database.engine.begin() as connection:  # another process changes one row
        connection.execute(
            text(
                "UPDATE allocations SET status = 'held', reason = 'by hand' WHERE student_id = 's1'"
            )
        )
    with database.unit_of_work() as uow:
        changed, unchanged = uow.allocations.find(round_id="r1")
        assert (changed.status, changed.reason) == (AllocationStatus.HELD, "by hand")
        assert unchanged is first[1]
        # A change not flushed yet is read too.
        uow.allocations.set_status("r1", "s2", "o1", AllocationStatus.REVOKED, "withdrawn")
        assert uow.allocations.find(round_id="r1")[1].status is AllocationStatus.REVOKED
