"""The README's worked example, runnable: register a model, version it, upload its weights,
promote it, deploy it, canary a second version, promote that, roll back.

    export MLGRAPH_TOKEN=$(.venv/bin/mlgraph token --user admin@example.com --role admin)
    .venv/bin/python examples/write_flow.py                  # against `make run`
    .venv/bin/python examples/write_flow.py http://host:8000  # elsewhere

The server is the argument, else MLGRAPH_URL, else http://127.0.0.1:$MLGRAPH_PORT (8000): the
same setting `make run` and `mlgraph serve` follow.

Every GraphQL document below is quoted verbatim in README.md (a test keeps the two equal and
runs this script against a live server).
"""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from typing import Any

import httpx

PROJECT = """
query Project($slug: String!) { project(slug: $slug) { id name } }
"""

REGISTER_MODEL = """
mutation Register($input: RegisterModelInput!) {
  registerModel(input: $input) { model { id name } userErrors { field message code } }
}
"""

CREATE_VERSION = """
mutation Version($input: CreateModelVersionInput!) {
  createModelVersion(input: $input) {
    modelVersion { id version stage }
    userErrors { field message code }
  }
}
"""

CREATE_UPLOAD = """
mutation Upload($input: CreateArtifactUploadInput!) {
  createArtifactUpload(input: $input) {
    artifact { id status }
    upload { url method headers { name value } expiresAt }
    userErrors { field message code }
  }
}
"""

COMPLETE_UPLOAD = """
mutation Complete($input: CompleteArtifactUploadInput!) {
  completeArtifactUpload(input: $input) { artifact { status } userErrors { field message code } }
}
"""

TRANSITION = """
mutation Promote($input: TransitionModelVersionInput!) {
  transitionModelVersion(input: $input) {
    modelVersion { stage revision }
    userErrors { field message code }
  }
}
"""

DEPLOY = """
mutation Deploy($input: CreateDeploymentInput!) {
  createDeployment(input: $input) {
    deployment { id status revision targets { trafficPercent version { version } } }
    userErrors { field message code }
  }
}
"""

SHIFT = """
mutation Canary($input: ShiftTrafficInput!) {
  shiftTraffic(input: $input) {
    deployment { revision targets { trafficPercent version { version } } }
    userErrors { field message code }
  }
}
"""

PROMOTE_DEPLOYMENT = """
mutation PromoteCanary($input: PromoteDeploymentInput!) {
  promoteDeployment(input: $input) {
    deployment { revision targets { trafficPercent version { version } } }
    userErrors { field message code }
  }
}
"""

ROLLBACK = """
mutation Rollback($input: RollbackDeploymentInput!) {
  rollbackDeployment(input: $input) {
    deployment {
      status
      targets { trafficPercent version { version } }
      events(first: 5) { nodes { kind message } }
    }
    userErrors { field message code }
  }
}
"""

DOCUMENTS = [
    PROJECT,
    REGISTER_MODEL,
    CREATE_VERSION,
    CREATE_UPLOAD,
    COMPLETE_UPLOAD,
    TRANSITION,
    DEPLOY,
    SHIFT,
    PROMOTE_DEPLOYMENT,
    ROLLBACK,
]


class Flow:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def run(self, document: str, **variables: Any) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": document, "variables": variables})
        body = response.json()
        if body.get("errors"):
            raise SystemExit(f"GraphQL errors: {body['errors']}")
        data: dict[str, Any] = body["data"]
        [payload] = data.values()
        if isinstance(payload, dict) and payload.get("userErrors"):
            raise SystemExit(f"refused: {payload['userErrors']}")
        print(f"{document.split()[1]:<14} {payload}")
        return payload  # type: ignore[no-any-return]

    def upload_weights(self, version_id: str, content: bytes) -> None:
        created = self.run(
            CREATE_UPLOAD,
            input={
                "versionId": version_id,
                "kind": "WEIGHTS",
                "fileName": "model.bin",
                "sizeBytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            },
        )
        upload = created["upload"]
        headers = {h["name"]: h["value"] for h in upload["headers"]}
        put = self.client.request(upload["method"], upload["url"], content=content, headers=headers)
        put.raise_for_status()
        self.run(COMPLETE_UPLOAD, input={"artifactId": created["artifact"]["id"]})

    def version(self, model_id: str, version: str, *stages: str) -> str:
        created = self.run(
            CREATE_VERSION,
            input={"modelId": model_id, "version": version, "metrics": {"auc": 0.93}},
        )
        version_id: str = created["modelVersion"]["id"]
        self.upload_weights(version_id, f"weights of {version}".encode())
        for stage in stages:
            self.run(TRANSITION, input={"versionId": version_id, "stage": stage})
        return version_id


def server_url() -> str:
    """MLGRAPH_URL, else this machine at MLGRAPH_PORT (as `mlgraph serve` prints it)."""
    port = os.environ.get("MLGRAPH_PORT", "8000")
    return os.environ.get("MLGRAPH_URL") or f"http://127.0.0.1:{port}"


def main(
    base_url: str | None = None,
    slug: str = "fraud-detection",
    token: str | None = None,
) -> dict[str, Any]:
    base_url = base_url or server_url()
    token = token or os.environ["MLGRAPH_TOKEN"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as client:
        flow = Flow(client)
        project = flow.run(PROJECT, slug=slug)
        model = flow.run(
            REGISTER_MODEL,
            input={
                "projectId": project["id"],
                "name": f"readme-{uuid.uuid4().hex[:8]}",
                "riskTier": "MEDIUM",
                "requiredMetrics": ["auc"],
                "tags": ["tabular"],
                "idempotencyKey": str(uuid.uuid4()),
            },
        )
        model_id = model["model"]["id"]
        v1 = flow.version(model_id, "1.0.0", "STAGING", "PRODUCTION")
        deployment = flow.run(
            DEPLOY,
            input={
                "modelId": model_id,
                "name": f"{model['model']['name']}-prod",
                "environment": "PRODUCTION",
                "strategy": "CANARY",
                "versionId": v1,
            },
        )
        deployment_id = deployment["deployment"]["id"]
        v2 = flow.version(model_id, "1.1.0", "STAGING")
        flow.run(
            SHIFT,
            input={
                "deploymentId": deployment_id,
                "splits": [{"versionId": v1, "percent": 90}, {"versionId": v2, "percent": 10}],
            },
        )
        flow.run(PROMOTE_DEPLOYMENT, input={"deploymentId": deployment_id, "versionId": v2})
        return flow.run(
            ROLLBACK,
            input={
                "deploymentId": deployment_id,
                "toVersionId": v1,
                "reason": "p99 latency regression in 1.1.0",
            },
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
