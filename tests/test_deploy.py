"""docker-compose.yml (the production shape) stays true to the code: every MLGRAPH_ variable
it sets is a setting the gateway reads, with a value the settings accept."""

from __future__ import annotations

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
