"""The dashboard in a real browser: Debian's chromium driven by Playwright.

Everything is real and local: the embedded broker (one for the session), a migrated SQLite
file, a worker in a thread (ThreadedWorker, as the worker tests use) and the API with its
dashboard served by uvicorn on a free port, publishing to the broker. Tests seed what they need
through the repositories and act through the pages only. Screenshots go to build/screenshots/,
or to $SCREENSHOTS_DIR: `make screenshots` refreshes docs/screenshots/, which the README shows.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from schemas import District, OfferKind, Sector
from services.api import BrokerPublisher, create_app
from services.api.dashboard.serve import BackgroundApi
from services.api.tokens import create_token
from services.broker import EmbeddedBroker, provision
from services.persistence import Database, migrate
from services.persistence.tokens import TokenRole
from services.settings import Settings
from tests import factories
from tests.services.worker.conftest import ThreadedWorker

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "build/screenshots")
VIEWPORT = {"width": 1280, "height": 900}
SCHOOL = "sch-001"
PROVIDER, OTHER_PROVIDER = "p-harbour", "p-kowloon"
DEADLINE = dt.datetime(2027, 2, 15, 16, 0, tzinfo=dt.UTC)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread until it stops, and the other packages' tests call asyncio.run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make venv` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, locale="en-GB")
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="package")
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


@dataclass
class Service:
    url: str
    db: Database

    def token(self, role: TokenRole, tenant: str | None) -> str:
        return create_token(self.db, role, tenant, label="browser test")[1]

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}"


@pytest.fixture
def service(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path / 'placement.db'}"
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"b{uuid.uuid4().hex[:8]}.",
        topic_partitions=2,
        worker_session_timeout_s=1.0,
        worker_commit_interval_s=0.2,
    )
    migrate(settings)
    provision(settings)
    db = Database(url)
    try:
        app = create_app(settings, db, BrokerPublisher(settings))
        with ThreadedWorker(settings, db), BackgroundApi(app) as api:
            yield Service(url=api.url, db=db)
    finally:
        db.dispose()


def seed_offers(db: Database) -> None:
    """Two providers' offers: L1 visits with room for everyone, scarcer L2/L3 places."""
    day = factories.DAY
    offers = [
        factories.offer(
            "hh-ward-visit",
            provider_id=PROVIDER,
            provider_name="Harbour Health",
            title="Hospital ward visit",
            capacity=8,
            sessions=(factories.session(day),),
        ),
        factories.offer(
            "hh-nurse-shadow",
            OfferKind.WORKPLACE_L2,
            provider_id=PROVIDER,
            provider_name="Harbour Health",
            title="Shadow a ward nurse",
            capacity=4,
            sessions=(factories.session(day + dt.timedelta(days=7)),),
        ),
        factories.offer(
            "kd-studio-tour",
            provider_id=OTHER_PROVIDER,
            provider_name="Kowloon Digital",
            title="Design studio tour",
            sector=Sector.CREATIVE_MEDIA,
            district=District.KWUN_TONG,
            capacity=8,
            sessions=(factories.session(day + dt.timedelta(days=2), "14:00", "16:30"),),
        ),
        factories.offer(
            "kd-junior-designer",
            OfferKind.WORKPLACE_L3,
            provider_id=OTHER_PROVIDER,
            provider_name="Kowloon Digital",
            title="Junior designer internship",
            sector=Sector.CREATIVE_MEDIA,
            district=District.KWUN_TONG,
            capacity=3,
            sessions=(factories.session(day + dt.timedelta(days=14), "09:00", "17:00"),),
        ),
        factories.offer(
            "hh-lab-tasting",
            OfferKind.WORKPLACE_L2,
            provider_id=PROVIDER,
            provider_name="Harbour Health",
            title="Medical laboratory job tasting",
            capacity=2,
            prerequisites={"required_subjects": frozenset({"chemistry"})},
            sessions=(factories.session(day + dt.timedelta(days=21)),),
        ),
    ]
    with db.unit_of_work() as uow:
        for offer in offers:
            uow.offers.add(offer, DEADLINE)
        uow.commit()


def sign_in(page: Page, service: Service, token: str) -> None:
    page.goto(service.page_url("/dashboard/login"))
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/*")
    page.wait_for_selector("body[data-ready]")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
