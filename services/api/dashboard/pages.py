"""The dashboard's page shells: a name, a title, a template; and its two static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from schemas import OfferKind
from schemas.common import District, Sector

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_FILES = frozenset({"app.js", "style.css"})

# name -> (title, roles that see it in the navigation)
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "start": ("Placement matching", ()),
    "login": ("Sign in", ()),
    "coverage": ("Coverage", ("careers", "admin")),
    "offers": ("Offers", ("careers", "admin", "employer")),
    "careers": ("Careers desk", ("careers", "admin")),
    "round": ("Round", ()),
    "student": ("My offers", ("student",)),
    "employer": ("Submit an offer", ("employer",)),
}
KINDS = [
    (OfferKind.WORKPLACE_L1.value, "Level 1: observational visit"),
    (OfferKind.WORKPLACE_L2.value, "Level 2: job tasting or shadowing"),
    (OfferKind.WORKPLACE_L3.value, "Level 3: internship"),
    (OfferKind.FE_VISIT.value, "Further education: visit"),
    (OfferKind.FE_INTERACTION.value, "Further education: interaction"),
]
NAV = [(name, title, roles) for name, (title, roles) in PAGES.items() if roles]

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, page: str, **values: Any) -> HTMLResponse:
    title, _ = PAGES[page]
    template = _env.get_template(f"{page}.html")
    html = template.render(
        page=page,
        title=title,
        nav=NAV,
        kinds=KINDS,
        sectors=[s.value for s in Sector],
        districts=[d.value for d in District],
        **values,
    )
    return HTMLResponse(html)


def static_file(name: str) -> Path | None:
    return STATIC / name if name in STATIC_FILES else None
