"""A student sees the offers open to them (and why not the others), ranks some, and saves."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.conftest import (
    SCHOOL,
    Service,
    eventually,
    screenshot,
    seed_offers,
    sign_in,
)

STUDENT = "s-301"


def test_a_student_ranks_the_offers_open_to_them(page: Page, service: Service) -> None:
    seed_offers(service.db)
    with service.db.unit_of_work() as uow:
        uow.students.add(
            factories.student(
                STUDENT, school_id=SCHOOL, name="Chan Mei Ling", subjects=frozenset({"biology"})
            )
        )
        uow.commit()
    sign_in(page, service, service.token("student", STUDENT))
    expect(page).to_have_url(service.page_url("/dashboard/student"))

    eligible = page.locator("#eligible-table")
    expect(eligible).to_contain_text("Shadow a ward nurse")
    expect(eligible).not_to_contain_text("Medical laboratory job tasting")  # needs chemistry
    page.get_by_text("Offers not open to you, and why").click()
    expect(page.locator("#ineligible-table")).to_contain_text("missing subject chemistry")

    page.get_by_role("button", name="Add Hospital ward visit to my ranking").click()
    page.get_by_role("button", name="Add Shadow a ward nurse to my ranking").click()
    page.get_by_role("button", name="Add Junior designer internship to my ranking").click()
    page.get_by_role("button", name="Move Shadow a ward nurse up").click()
    ranking = page.locator("#ranking li")
    expect(ranking).to_have_count(3)
    expect(ranking.first).to_contain_text("Shadow a ward nurse")
    page.get_by_role("button", name="Save my ranking").click()
    expect(page.locator("#ranking-result")).to_contain_text("Saved: 3 offers ranked")
    screenshot(page, "student-ranking")

    def stored() -> tuple[str, ...]:
        with service.db.unit_of_work() as uow:
            found = uow.preferences.get(STUDENT)
        return found.ranked if found else ()

    wanted = ("hh-nurse-shadow", "hh-ward-visit", "kd-junior-designer")
    assert eventually(lambda: stored() == wanted), stored()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#ranking li").first).to_contain_text("Shadow a ward nurse")
