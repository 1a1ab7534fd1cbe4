"""A careers teacher imports the school's students, runs rounds, watches coverage rise, and
exports the roster: all through the dashboard, the worker applying every write."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import SCHOOL, Service, screenshot, seed_offers, sign_in

HEADER = "student_id,name,form,date_of_birth,subjects,interests,academic_band,parental_consent\n"
FIRST = HEADER + (
    "s-101,Chan Tai Man,S5,2010-03-02,biology;chemistry,healthcare,1,yes\n"
    "s-102,Wong Ka Yan,S5,2010-07-19,biology,healthcare,2,yes\n"
    "s-103,Lee Siu Ming,S4,2011-01-30,visual_arts,creative_media,2,yes\n"
    "s-104,Ho Chi Kin,S4,2011-05-11,ict,creative_media,3,yes\n"
    "s-105,Cheung Wing Sze,S6,2009-09-23,chemistry,healthcare,1,no\n"
    "s-106,Lam Hoi Yee,S6,2009-12-01,economics,,2,yes\n"
)
SECOND = HEADER + (
    "s-107,Tsang Man Kit,S5,2010-04-14,biology;chemistry,healthcare,1,yes\n"
    "s-108,Yeung Pui Shan,S4,2011-08-08,visual_arts,creative_media,2,yes\n"
    "s-109,Ng Ka Ho,S6,2009-10-10,physics,architecture_engineering,2,no\n"
    "s-110,Leung Sze Wan,S5,2010-02-27,biology,healthcare,3,yes\n"
)
BAD = HEADER + "s-201,Mak Wai,S7,2010-01-01,,,,yes\ns-202,Poon Yan,S5,not-a-date,,,,yes\n"


def kpi(page: Page, title: str) -> Locator:
    return page.locator(".kpi", has_text=title).locator(".value")


def projected(page: Page) -> str:
    return kpi(page, "B8 projected").inner_text()


def import_file(page: Page, path: Path, students: int) -> None:
    page.get_by_label("Student file").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text(f"{students} students accepted")


def run_commit_round(page: Page, done: int) -> None:
    """Commit a round and wait until the rounds table shows `done` finished rounds."""
    page.get_by_label("Commit").check()
    page.get_by_role("button", name="Run round").click()
    finished = page.locator("#rounds-table tbody tr", has_text="done")
    expect(finished).to_have_count(done, timeout=90_000)


def test_a_careers_user_imports_runs_a_round_sees_coverage_rise_and_exports(
    page: Page, service: Service, tmp_path: Path
) -> None:
    seed_offers(service.db)
    files = {name: tmp_path / f"{name}.csv" for name in ("first", "second", "bad")}
    for path, text in zip(files.values(), (FIRST, SECOND, BAD), strict=True):
        path.write_text(text, encoding="utf-8")
    sign_in(page, service, service.token("careers", SCHOOL))
    expect(page).to_have_url(service.page_url("/dashboard/coverage"))
    page.get_by_role("link", name="Careers desk").click()
    page.wait_for_selector("body[data-ready=true]")

    # A bad file is refused whole, each problem with its line.
    page.get_by_label("Student file").set_input_files(str(files["bad"]))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text("nothing was imported")
    expect(page.locator("#import-result")).to_contain_text("line 3")
    screenshot(page, "careers-import-error")

    import_file(page, files["first"], 6)
    expect(kpi(page, "Senior students")).to_have_text("6")
    assert projected(page) == "0.0%"

    run_commit_round(page, 1)
    expect(kpi(page, "B8 projected")).not_to_have_text("0.0%")
    first = float(projected(page).rstrip("%"))
    assert first > 0

    # More students join; a second round places them too, and coverage rises again.
    import_file(page, files["second"], 4)
    expect(kpi(page, "Senior students")).to_have_text("10")
    run_commit_round(page, 2)
    expect(kpi(page, "B8 projected")).not_to_have_text(f"{first:.1f}%")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    screenshot(page, "careers-desk")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download allocations CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"allocations-{SCHOOL}.csv"
    saved = tmp_path / "roster.csv"
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert rows, "the export has allocations"
    assert {r["student_id"] for r in rows} <= {f"s-1{n:02d}" for n in range(1, 11)}
    assert {"s-101", "s-107"} <= {r["student_id"] for r in rows}
    expect(page.locator("#export-result")).to_contain_text(f"{len(rows)} allocations exported")

    # The round's own page: progress at 100% and the result summary.
    page.locator("#rounds-table a").first.click()
    page.wait_for_selector("#summary:not([hidden])")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator(".kpi", has_text="Students placed")).to_be_visible()
    expect(kpi(page, "Optimality")).to_have_text("proven")
    screenshot(page, "round-result")

    # Coverage: totals, charts and the students still missing a placement, with reasons.
    page.get_by_role("link", name="Coverage").click()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#fill-chart svg")).to_be_visible()
    expect(page.locator("#form-chart svg")).to_be_visible()
    assert float(projected(page).rstrip("%")) >= first
    expect(page.locator("#uncovered-table")).to_contain_text("Cheung Wing Sze")  # no consent
    expect(page.locator("#uncovered-table")).to_contain_text("parental consent")
    screenshot(page, "coverage")

    page.get_by_role("link", name="Offers").click()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#offers-table")).to_contain_text("Shadow a ward nurse")
    screenshot(page, "offers")
