"""Random values that stress the JSON formats: doubles near the places where PostgreSQL's and
Python's formats switch, strings from every plane (controls, DEL, separators), JSON documents.

Everything PostgreSQL can store: no NUL, no lone surrogates, no NaN or Infinity.
"""

from __future__ import annotations

import math
import random
import struct
from typing import Any

#: Code points the generator favours: controls, DEL, C1 controls, JSON's escapes, separators.
AWKWARD: list[int] = [
    *range(1, 32),
    0x7F,
    *range(0x80, 0xA0),
    0x22,
    0x5C,
    0x2F,
    0x2028,
    0x2029,
    0xFEFF,
]


def double(rng: random.Random) -> float:
    """A finite double: any bit pattern, or one near the places where formats switch."""
    pick = rng.random()
    if pick < 0.4:
        while True:
            (x,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
            if math.isfinite(x):
                return float(x)
    sign = rng.choice((-1.0, 1.0))
    if pick < 0.6:  # [1e15, 1e16), where PostgreSQL has an exponent and Python none
        return sign * rng.uniform(1e15, 1e16)
    if pick < 0.65:  # integral values around 2**53 and the 1e16 switch
        return sign * float(rng.randrange(2**52, 2**57))
    if pick < 0.7:  # short decimals above 2**54: often exactly halfway between two doubles
        return sign * float(rng.randrange(1, 10 ** rng.randrange(1, 17)) * 10 ** rng.randrange(25))
    if pick < 0.8:  # around the small-number switch (1e-4 / 1e-5)
        return sign * rng.uniform(1e-6, 1e-3)
    if pick < 0.9:  # short decimals, the usual metric values
        return sign * round(rng.uniform(0, 1000), rng.randrange(0, 8))
    return sign * 10.0 ** rng.randrange(-320, 308)


def code_point(rng: random.Random) -> int:
    if rng.random() < 0.3:
        return rng.choice(AWKWARD)
    plane = rng.randrange(17)
    while True:
        cp = plane * 0x10000 + rng.randrange(0x10000)
        if cp and not 0xD800 <= cp <= 0xDFFF:  # PostgreSQL text holds neither NUL nor surrogates
            return cp


def string(rng: random.Random) -> str:
    return "".join(chr(code_point(rng)) for _ in range(rng.randrange(0, 12)))


def json_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(8 if depth < 3 else 6)
    if pick == 0:
        return double(rng)
    if pick == 1:
        return rng.randrange(-(2**63), 2**63)
    if pick == 2:
        return string(rng)
    if pick == 3:
        return rng.choice((True, False, None))
    if pick == 4:
        return float(rng.randrange(-1000, 1000))
    if pick == 5:
        return round(rng.uniform(-1, 1), rng.randrange(1, 6))
    if pick == 6:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {string(rng): json_value(rng, depth + 1) for _ in range(rng.randrange(4))}
