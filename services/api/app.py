"""The HTTP API: `create_app(settings, db, publisher)`.

Writes are published as events (202 with the event id) after the checks the database allows;
the worker applies them. Reads come from the database. Every route but /health needs a bearer
token (see services/api/auth.py for who may see what).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.api import errors
from services.api.context import ApiContext
from services.api.publisher import Publisher
from services.api.routes import careers, dashboard, employers, students
from services.persistence import Database
from services.settings import Settings

TAGS = [
    {"name": "careers", "description": "Careers teams: students, rounds, coverage, exports."},
    {"name": "employers", "description": "Employers and institutions: offers and rosters."},
    {"name": "students", "description": "Students: eligible offers, rankings, allocations."},
    {"name": "service", "description": "Health."},
]


def create_app(settings: Settings, db: Database, publisher: Publisher) -> FastAPI:
    app = FastAPI(
        title="Placement matching",
        summary="Workplace and further-education encounters for Hong Kong senior-form students "
        "(CLP benchmarks 8 and 9).",
        version="1",
        openapi_tags=TAGS,
    )
    app.state.context = ApiContext(settings=settings, db=db, publisher=publisher)
    errors.install(app)
    app.include_router(careers.router)
    app.include_router(employers.router)
    app.include_router(students.router)
    app.include_router(dashboard.router)

    @app.get("/health", tags=["service"], summary="The API is up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
