"""The deployment manifests run commands the CLI has, with settings the service reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli.main import build_parser
from services.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return document


def _k8s() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((DEPLOY / "k8s" / "placement.yaml").read_text()))


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document["spec"]
    pod = spec["template"]["spec"]
    containers: list[dict[str, Any]] = pod["containers"]
    return containers


def test_every_compose_service_built_from_the_project_runs_a_real_placement_command() -> None:
    services = _compose()["services"]
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) == {"migrate", "worker"}
    for name, service in built.items():
        build_parser().parse_args(service["command"])  # exits on an unknown command
        assert set(service["environment"]) <= SETTINGS, name


def test_every_kubernetes_container_runs_a_real_placement_command_with_known_settings() -> None:
    documents = {d["kind"]: d for d in _k8s()}
    assert {"ConfigMap", "Job", "Deployment"} <= set(documents)
    assert set(documents["ConfigMap"]["data"]) <= SETTINGS
    for kind in ("Job", "Deployment"):
        for container in _containers(documents[kind]):
            build_parser().parse_args(container["args"])
            assert {e["name"] for e in container["env"]} <= SETTINGS


@pytest.mark.parametrize("name", ["DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TOPIC_PARTITIONS"])
def test_the_deploy_readme_documents_each_setting_it_relies_on(name: str) -> None:
    assert f"`{name}`" in (DEPLOY / "README.md").read_text()
