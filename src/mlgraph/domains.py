"""The domains of the graph: each is a module name in every layer and one federation subgraph."""

from typing import Literal

DomainName = Literal[
    "projects", "pipelines", "registry", "deployments", "monitoring", "audit", "webhooks"
]
#: Every domain, in the order the combined schema lists them.
DOMAIN_NAMES: tuple[DomainName, ...] = (
    "projects",
    "pipelines",
    "registry",
    "deployments",
    "monitoring",
    "audit",
    "webhooks",
)
