"""mlgraph: a GraphQL API gateway for machine-learning operations."""

__version__ = "0.1.0"
