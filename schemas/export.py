"""JSON Schema export for every model the service exchanges."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.entities import Offer, PreferenceList, Student
from schemas.events import TOPIC_ADAPTERS
from schemas.instance import Instance, RoundRules, SolveOptions
from schemas.result import Result

MODELS: dict[str, type[BaseModel]] = {
    "student": Student,
    "offer": Offer,
    "preference_list": PreferenceList,
    "round_rules": RoundRules,
    "instance": Instance,
    "solve_options": SolveOptions,
    "result": Result,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by name: the entities, the solver's input and output, and one per topic."""
    out: dict[str, dict[str, Any]] = {name: m.model_json_schema() for name, m in MODELS.items()}
    for topic, adapter in TOPIC_ADAPTERS.items():
        out[f"topic.{topic}"] = adapter.json_schema()
    return out
