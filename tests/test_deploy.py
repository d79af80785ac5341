"""docker-compose.yml (the production shape) stays true to the code: every MLGRAPH_ variable
it sets is a setting the gateway reads, with a value the settings accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlgraph.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_gateway_environment_is_made_of_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = COMPOSE["services"]["gateway"]["environment"]
    known = {f"MLGRAPH_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.is_postgresql
    assert settings.object_store == "s3"
    assert settings.s3_path_style is True
    assert not settings.local_issuer


def test_replicas_wait_for_migration_and_bucket() -> None:
    services = COMPOSE["services"]
    assert services["migrate"]["command"] == ["mlgraph", "db", "upgrade"]
    needs = services["gateway"]["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert needs["bucket"]["condition"] == "service_completed_successfully"
    assert services["gateway"]["deploy"]["replicas"] >= 2
    assert (ROOT / "deploy" / "nginx.conf").is_file()


FEDERATION = json.loads((ROOT / "federation" / "subgraphs.json").read_text())["subgraphs"]


def test_federation_profile_runs_every_subgraph_of_the_layout() -> None:
    services = COMPOSE["services"]
    profiled = {n for n, s in services.items() if "federation" in s.get("profiles", [])}
    subgraphs = {f"subgraph-{name}" for name in FEDERATION}
    assert profiled == subgraphs | {"hive-gateway"}
    known = {f"MLGRAPH_{name.upper()}" for name in Settings.model_fields}
    for name, entry in FEDERATION.items():
        service = services[f"subgraph-{name}"]
        assert set(service["environment"]) <= known
        assert service["environment"].get("MLGRAPH_SUBGRAPH") == (
            None if entry.get("combined") else name
        )
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_hive_gateway_waits_for_and_routes_to_each_subgraph_service() -> None:
    gateway = COMPOSE["services"]["hive-gateway"]
    assert gateway["build"]["dockerfile"] == "federation/Dockerfile"
    assert (ROOT / gateway["build"]["dockerfile"]).is_file()
    needs = gateway["depends_on"]
    assert needs == {f"subgraph-{name}": {"condition": "service_healthy"} for name in FEDERATION}
    template = gateway["environment"]["ROUTING_URL_TEMPLATE"]
    for name in FEDERATION:
        host = template.replace("{name}", name).split("//")[1].split(":")[0]
        assert host in COMPOSE["services"], host
    # Today's topology stays the default: `docker-compose up` starts no federation service.
    assert "profiles" not in COMPOSE["services"]["gateway"]
