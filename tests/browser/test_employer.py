"""An employer submits an offer: a refused one says which field is wrong; an accepted one is
listed once the service has applied it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import PROVIDER, Service, eventually, screenshot, sign_in


def test_an_employer_submits_an_offer(page: Page, service: Service) -> None:
    sign_in(page, service, service.token("employer", PROVIDER))
    expect(page).to_have_url(service.page_url("/dashboard/employer"))
    form = page.locator("#offer-form")
    form.get_by_label("Offer id").fill("hh-pharmacy-2027")
    form.get_by_label("Your organisation").fill("Harbour Health")
    form.get_by_label("Title").fill("Hospital pharmacy job shadowing")
    form.get_by_label("Level").select_option("workplace_l2")
    form.get_by_label("Sector").select_option("healthcare")
    form.get_by_label("District").select_option("sha_tin")
    form.get_by_label("Date").fill("2027-03-10")
    form.get_by_label("Starts").fill("09:30")
    form.get_by_label("Ends").fill("15:30")
    form.get_by_label("Capacity").fill("6")
    form.get_by_label("Required subjects").fill("chemistry")
    form.get_by_label("Students rank it by").fill("2027-02-20")

    # An L2 offer needs insurance cover: refused, and the field says so.
    page.get_by_role("button", name="Submit offer").click()
    expect(page.locator("#offer-error")).to_contain_text("needs insurance")
    expect(form.get_by_label("Insurer")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Insurer").fill("HK Mutual")
    form.get_by_label("Policy number").fill("HM-2027-0042")
    form.get_by_label("Valid from").fill("2026-09-01")
    form.get_by_label("Expires").fill("2027-08-31")
    page.get_by_role("button", name="Submit offer").click()
    expect(page.locator("#offer-result")).to_contain_text("Offer hh-pharmacy-2027 submitted")
    expect(page.locator("#offers-table")).to_contain_text("Hospital pharmacy job shadowing")
    expect(page.locator("#offers-table")).to_contain_text("0 / 6")
    screenshot(page, "employer-offer")

    def stored() -> bool:
        with service.db.unit_of_work() as uow:
            record = uow.offers.get_record("hh-pharmacy-2027")
        return record is not None and record.offer.capacity == 6

    assert eventually(stored)
