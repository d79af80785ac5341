"""Registry mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry


@strawberry.type
class RegistryMutations:
    pass
