"""The object-key layout, in one place. Keys are built from ids; the only user-given parts (an
artifact's file name, a report's name) are escaped or checked, so no key leaves its prefix."""

from __future__ import annotations

import uuid
from urllib.parse import quote


def project_prefix(project_id: uuid.UUID) -> str:
    """Every object of a project is under it."""
    return f"projects/{project_id}/"


def model_prefix(project_id: uuid.UUID, model_id: uuid.UUID) -> str:
    return f"{project_prefix(project_id)}models/{model_id}/"


def version_prefix(project_id: uuid.UUID, model_id: uuid.UUID, version_id: uuid.UUID) -> str:
    """Every artifact of a model version is under it."""
    return f"{model_prefix(project_id, model_id)}versions/{version_id}/"


def artifact_key(
    project_id: uuid.UUID,
    model_id: uuid.UUID,
    version_id: uuid.UUID,
    artifact_id: uuid.UUID,
    file_name: str,
) -> str:
    prefix = version_prefix(project_id, model_id, version_id)
    return f"{prefix}{artifact_id}/{quote(file_name, safe='')}"


def job_logs_key(project_id: uuid.UUID, job_id: uuid.UUID) -> str:
    """Where runners write a job's log."""
    return f"{project_prefix(project_id)}jobs/{job_id}/logs.txt"


def deployment_prefix(project_id: uuid.UUID, deployment_id: uuid.UUID) -> str:
    """Every object of a deployment (its drift reports) is under it."""
    return f"{project_prefix(project_id)}deployments/{deployment_id}/"


def drift_report_key(project_id: uuid.UUID, deployment_id: uuid.UUID, name: str) -> str:
    """Where a monitor writes a drift metric's JSON report (``name`` checked by the caller)."""
    return f"{deployment_prefix(project_id, deployment_id)}reports/{name}"
