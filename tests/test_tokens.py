"""Bearer-token validation against a real local OIDC issuer (discovery + JWKS over HTTP).

Every test asserts behaviour: the identity a token yields, or that it is refused with
InvalidToken (whose message must never contain the token). Time is an injectable clock, so
expiry, leeway and JWKS caching are exact.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import stat
import time
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, KeySet, RSAKey

from mlgraph.auth.local_issuer import (
    KEY_FILE,
    LOCAL_ISSUER,
    issue_token,
    load_or_create_key,
    local_verifier,
)
from mlgraph.auth.tokens import (
    InvalidToken,
    JwksKeySource,
    StaticKeySource,
    TokenIdentity,
    TokenVerifier,
)
from mlgraph.settings import Settings
from tests.conftest import free_port
from tests.oidc_server import OidcServer, new_ec_key, new_rsa_key

AUDIENCE = "mlgraph"
DROP = object()  # claim value meaning "leave this claim out"


class Clock:
    """An injectable ``now`` that only moves when told to."""

    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
async def shared_idp() -> AsyncIterator[OidcServer]:
    server = await OidcServer().start()
    yield server
    await server.stop()


@pytest.fixture
def idp(shared_idp: OidcServer) -> OidcServer:
    """The module's issuer, reset to its initial keys with counters at zero."""
    shared_idp.reset()
    return shared_idp


@pytest.fixture
async def own_idp() -> AsyncIterator[OidcServer]:
    """An issuer of the test's own (which it may stop)."""
    server = await OidcServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


MakeVerifier = Callable[..., TokenVerifier]


@pytest.fixture
def make_verifier(idp: OidcServer, http: httpx.AsyncClient, clock: Clock) -> MakeVerifier:
    def make(
        *,
        issuer: str | None = None,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        leeway_s: int = 30,
        cache_s: int = 300,
        refetch_s: int = 30,
    ) -> TokenVerifier:
        iss = issuer or idp.issuer
        source = JwksKeySource(iss, http, cache_s=cache_s, refetch_s=refetch_s, now=clock)
        return TokenVerifier(
            issuer=iss,
            audience=AUDIENCE,
            algorithms=algorithms,
            keys=source,
            leeway_s=leeway_s,
            roles_claim="roles",
            now=clock,
        )

    return make


@pytest.fixture
def verifier(make_verifier: MakeVerifier) -> TokenVerifier:
    return make_verifier()


def claims(idp: OidcServer, clock: Clock, **overrides: Any) -> dict[str, Any]:
    now = int(clock())
    values: dict[str, Any] = {
        "iss": idp.issuer,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": "Ada Lovelace",
        "roles": ["ml-engineer", "viewer"],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not DROP}


async def refused(verifier: TokenVerifier, token: str) -> InvalidToken:
    """Assert the token is refused, and that the message leaks none of it."""
    with pytest.raises(InvalidToken) as info:
        await verifier.verify(token)
    message = str(info.value)
    assert message
    if token:
        assert token not in message
        for segment in token.split("."):
            if len(segment) >= 8:
                assert segment not in message
    return info.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


# --- accepted tokens -------------------------------------------------------------------------


async def test_valid_rs256_token(idp: OidcServer, clock: Clock, verifier: TokenVerifier) -> None:
    c = claims(idp, clock)
    identity = await verifier.verify(idp.sign(c))
    assert identity == TokenIdentity(
        subject="user-1",
        name="Ada Lovelace",
        roles=frozenset({"ml-engineer", "viewer"}),
        issuer=idp.issuer,
        expires_at=datetime.fromtimestamp(c["exp"], tz=UTC),
    )
    assert identity.expires_at.tzinfo is UTC


async def test_valid_es256_token(idp: OidcServer, clock: Clock, verifier: TokenVerifier) -> None:
    c = claims(idp, clock, name=DROP, preferred_username="ada", roles="mlgraph-admin")
    identity = await verifier.verify(idp.sign(c, alg="ES256"))
    assert identity.subject == "user-1"
    assert identity.name == "ada"
    assert identity.roles == frozenset({"mlgraph-admin"})
    assert identity.issuer == idp.issuer


async def test_name_falls_back_to_subject_and_roles_may_be_absent(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    identity = await verifier.verify(idp.sign(claims(idp, clock, name=DROP, roles=DROP)))
    assert identity.name == "user-1"
    assert identity.roles == frozenset()


async def test_audience_may_be_a_list(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    identity = await verifier.verify(idp.sign(claims(idp, clock, aud=["other", AUDIENCE])))
    assert identity.subject == "user-1"


async def test_roles_from_configured_nested_claim(
    idp: OidcServer, clock: Clock, http: httpx.AsyncClient
) -> None:
    v = TokenVerifier(
        issuer=idp.issuer,
        audience=AUDIENCE,
        algorithms=["RS256"],
        keys=JwksKeySource(idp.issuer, http, now=clock),
        leeway_s=0,
        roles_claim="realm_access.roles",
        now=clock,
    )
    token = idp.sign(claims(idp, clock, realm_access={"roles": ["a", "b", 3]}))
    assert (await v.verify(token)).roles == frozenset({"a", "b"})


# --- time claims -----------------------------------------------------------------------------


async def test_expired_token_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, iat=int(clock()) - 7200, exp=int(clock()) - 31))
    await refused(verifier, token)


async def test_expiry_within_leeway_accepted(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, exp=int(clock()) - 10))
    assert (await verifier.verify(token)).subject == "user-1"


async def test_token_expires_while_clock_moves(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, exp=int(clock()) + 60))
    await verifier.verify(token)
    clock.advance(60 + 30)
    await refused(verifier, token)


async def test_not_yet_valid_beyond_leeway_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, nbf=int(clock()) + 120))
    await refused(verifier, token)


async def test_not_yet_valid_within_leeway_accepted(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, nbf=int(clock()) + 20, iat=int(clock()) + 20))
    assert (await verifier.verify(token)).subject == "user-1"


async def test_issued_in_the_future_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    await refused(verifier, idp.sign(claims(idp, clock, iat=int(clock()) + 3000)))


# --- issuer, audience, required claims -------------------------------------------------------


async def test_wrong_issuer_refused(idp: OidcServer, clock: Clock, verifier: TokenVerifier) -> None:
    await refused(verifier, idp.sign(claims(idp, clock, iss="https://other.example")))
    await refused(verifier, idp.sign(claims(idp, clock, iss=idp.issuer + "/")))


@pytest.mark.parametrize("aud", ["other", ["other", "another"], [], ""])
async def test_wrong_audience_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier, aud: Any
) -> None:
    await refused(verifier, idp.sign(claims(idp, clock, aud=aud)))


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud"])
async def test_missing_required_claim_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier, claim: str
) -> None:
    await refused(verifier, idp.sign(claims(idp, clock, **{claim: DROP})))


@pytest.mark.parametrize(
    "bad",
    [
        {"exp": "tomorrow"},
        {"exp": True},
        {"exp": 10**30},
        {"sub": 42},
        {"sub": ""},
        {"iss": ["x"]},
        {"nbf": "now"},
    ],
)
async def test_badly_typed_claims_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier, bad: dict[str, Any]
) -> None:
    await refused(verifier, idp.sign(claims(idp, clock, **bad)))


# --- algorithms ------------------------------------------------------------------------------


async def test_alg_none_refused_before_any_key_is_fetched(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    kid = idp.signing_key.kid
    payload = b64json(claims(idp, clock))
    for alg in ("none", "None", "NONE"):
        header = b64json({"alg": alg, "kid": kid, "typ": "JWT"})
        await refused(verifier, f"{header}.{payload}.")
        await refused(verifier, f"{header}.{payload}.c2ln")
    assert idp.jwks_fetches == 0


async def test_hs256_signed_with_the_public_key_pem_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    # The classic key-confusion attack: HMAC keyed with the issuer's public key bytes.
    await verifier.verify(idp.sign(claims(idp, clock)))  # warm the JWKS cache
    fetches = idp.jwks_fetches
    pem = idp.signing_key.as_pem(private=False)
    for secret in (pem, pem.strip(), json.dumps(idp.signing_key.as_dict()).encode()):
        header = b64json({"alg": "HS256", "kid": idp.signing_key.kid, "typ": "JWT"})
        signing_input = f"{header}.{b64json(claims(idp, clock))}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        await refused(verifier, f"{signing_input}.{b64(signature)}")
    assert idp.jwks_fetches == fetches


async def test_algorithm_outside_the_allow_list_refused(
    idp: OidcServer, clock: Clock, make_verifier: MakeVerifier
) -> None:
    rs_only = make_verifier(algorithms=("RS256",))
    await refused(rs_only, idp.sign(claims(idp, clock), alg="ES256"))
    await refused(rs_only, idp.sign(claims(idp, clock), alg="RS512"))
    await refused(rs_only, idp.sign(claims(idp, clock), alg="PS256"))
    assert idp.jwks_fetches == 0
    assert (await rs_only.verify(idp.sign(claims(idp, clock)))).subject == "user-1"


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["RS256", "HS512"], [], ["EdDSA"]])
def test_symmetric_or_unknown_algorithms_cannot_be_configured(
    algorithms: list[str], http: httpx.AsyncClient
) -> None:
    with pytest.raises(ValueError, match="algorithm"):
        TokenVerifier(
            issuer="https://issuer.example",
            audience=AUDIENCE,
            algorithms=algorithms,
            keys=JwksKeySource("https://issuer.example", http),
            leeway_s=0,
            roles_claim="roles",
        )


async def test_key_type_must_fit_the_algorithm(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    # ES256 signature, but the kid names the RSA key (and vice versa).
    es_token = idp.sign(claims(idp, clock), alg="ES256", headers={"kid": idp.signing_key.kid})
    await refused(verifier, es_token)
    rs_token = idp.sign(claims(idp, clock), alg="RS256", headers={"kid": idp.ec_key.kid})
    await refused(verifier, rs_token)


async def test_weak_rsa_key_in_jwks_is_never_used(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        weak = RSAKey.generate_key(1024, parameters={"kid": "weak", "use": "sig"})
    idp.extra_keys.append(weak)
    await refused(verifier, idp.sign(claims(idp, clock), key=weak))


# --- signature and key lookup ----------------------------------------------------------------


async def test_tampered_payload_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, roles=["viewer"]))
    header, _, signature = token.split(".")
    forged = b64json(claims(idp, clock, roles=["mlgraph-admin"]))
    await refused(verifier, f"{header}.{forged}.{signature}")
    # flipping a signature bit is refused too
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await refused(verifier, f"{header}.{token.split('.')[1]}.{flipped}")
    assert (await verifier.verify(token)).roles == frozenset({"viewer"})


async def test_token_without_kid_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    await refused(verifier, idp.sign(claims(idp, clock), headers={"kid": None}))


async def test_unknown_kid_refetches_at_most_once_per_interval(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.sign(claims(idp, clock)))
    assert idp.jwks_fetches == 1
    for i in range(20):
        await refused(verifier, idp.sign(claims(idp, clock), headers={"kid": f"unknown-{i}"}))
    assert idp.jwks_fetches == 2  # one refetch for the first unknown kid, none for the rest
    clock.advance(29)
    await refused(verifier, idp.sign(claims(idp, clock), headers={"kid": "unknown-x"}))
    assert idp.jwks_fetches == 2
    clock.advance(1)
    await refused(verifier, idp.sign(claims(idp, clock), headers={"kid": "unknown-y"}))
    assert idp.jwks_fetches == 3
    assert idp.discovery_fetches == 1  # discovery is not repeated for refetches


async def test_concurrent_unknown_kids_share_one_refetch(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.sign(claims(idp, clock)))
    tokens = [idp.sign(claims(idp, clock), headers={"kid": f"unknown-{i}"}) for i in range(20)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) for r in results)
    assert idp.jwks_fetches == 2


async def test_concurrent_cold_start_shares_one_fetch(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    tokens = [idp.sign(claims(idp, clock, sub=f"user-{i}")) for i in range(10)]
    identities = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [i.subject for i in identities] == [f"user-{i}" for i in range(10)]
    assert idp.jwks_fetches == 1
    assert idp.discovery_fetches == 1


async def test_rotation_keeping_the_old_key(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    old_token = idp.sign(claims(idp, clock, sub="old"))
    await verifier.verify(old_token)
    idp.rotate(keep_old=True)
    new_token = idp.sign(claims(idp, clock, sub="new"))
    assert (await verifier.verify(new_token)).subject == "new"
    assert idp.jwks_fetches == 2  # exactly one refetch
    assert (await verifier.verify(old_token)).subject == "old"
    assert (await verifier.verify(new_token)).subject == "new"
    assert idp.jwks_fetches == 2


async def test_rotation_removing_the_old_key(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    old_token = idp.sign(claims(idp, clock, sub="old"))
    await verifier.verify(old_token)
    idp.rotate(keep_old=False)
    # until the next refetch the cached old key still verifies
    assert (await verifier.verify(old_token)).subject == "old"
    assert idp.jwks_fetches == 1
    new_token = idp.sign(claims(idp, clock, sub="new"))
    assert (await verifier.verify(new_token)).subject == "new"
    assert idp.jwks_fetches == 2  # exactly one refetch
    await refused(verifier, old_token)  # the refetched set no longer has the old kid
    clock.advance(31)
    await refused(verifier, old_token)
    assert (await verifier.verify(new_token)).subject == "new"


async def test_rotation_right_after_a_cache_refresh_is_still_picked_up(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    await verifier.verify(idp.sign(claims(idp, clock)))
    clock.advance(301)
    await verifier.verify(idp.sign(claims(idp, clock)))  # regular refresh (cache expired)
    assert idp.jwks_fetches == 2
    idp.rotate()
    clock.advance(1)
    assert (await verifier.verify(idp.sign(claims(idp, clock, sub="new")))).subject == "new"
    assert idp.jwks_fetches == 3


# --- header injection ------------------------------------------------------------------------


async def test_embedded_jwk_header_is_never_used(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    attacker = new_rsa_key(kid=idp.signing_key.kid)  # same kid as the real key
    jwk = attacker.as_dict(private=False)
    await refused(verifier, idp.sign(claims(idp, clock), key=attacker, headers={"jwk": jwk}))
    other = new_rsa_key()
    await refused(
        verifier,
        idp.sign(claims(idp, clock), key=other, headers={"jwk": other.as_dict(private=False)}),
    )
    attacker_ec = new_ec_key(kid=idp.ec_key.kid)
    await refused(
        verifier,
        idp.sign(
            claims(idp, clock),
            alg="ES256",
            key=attacker_ec,
            headers={"jwk": attacker_ec.as_dict(private=False)},
        ),
    )


@pytest.mark.parametrize("header", ["jku", "x5u"])
async def test_key_url_headers_are_never_followed(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier, header: str
) -> None:
    attacker = await OidcServer().start()
    try:
        for kid in (attacker.signing_key.kid, idp.signing_key.kid):
            token = idp.sign(
                claims(idp, clock),
                key=attacker.signing_key,
                headers={header: f"{attacker.url}/jwks", "kid": kid},
            )
            await refused(verifier, token)
        assert attacker.jwks_fetches == 0
        assert attacker.discovery_fetches == 0
    finally:
        await attacker.stop()


async def test_x5c_header_is_ignored(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    # A (bogus) x5c does not change which key verifies: the real key still does.
    token = idp.sign(claims(idp, clock), headers={"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]})
    assert (await verifier.verify(token)).subject == "user-1"
    attacker = new_rsa_key(kid=idp.signing_key.kid)
    forged = idp.sign(claims(idp, clock), key=attacker, headers={"x5c": ["AAAA"]})
    await refused(verifier, forged)


async def test_crit_header_refused(idp: OidcServer, clock: Clock, verifier: TokenVerifier) -> None:
    await refused(verifier, idp.sign(claims(idp, clock), headers={"crit": ["kid"]}))


async def test_unknown_noncritical_headers_are_ignored(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    c = claims(idp, clock)
    header = {"alg": "RS256", "kid": idp.signing_key.kid, "typ": "at+jwt", "x-vendor": "1"}
    registry = jws.JWSRegistry(algorithms=["RS256"], strict_check_header=False)
    token = jws.serialize_compact(header, json.dumps(c), idp.signing_key, registry=registry)
    assert (await verifier.verify(token)).subject == "user-1"


# --- malformed tokens ------------------------------------------------------------------------


def _malformed(idp: OidcServer, clock: Clock) -> list[str]:
    good = idp.sign(claims(idp, clock))
    h, p, s = good.split(".")
    kid = idp.signing_key.kid
    return [
        "",
        "garbage",
        "not.a.jwt",
        f"{h}.{p}",  # two segments
        f"{h}.{p}.{s}.{s}",  # four
        f"{h}..{s}",  # empty payload
        f".{p}.{s}",  # empty header
        f"{h}.{p}.",  # empty signature
        f"!!!!.{p}.{s}",  # header not base64url
        f"{h}=.{p}.{s}",  # padded
        f"{b64(b'{not json')}.{p}.{s}",
        f"{b64json(['alg', 'RS256'])}.{p}.{s}",  # header not an object
        f"{b64json('RS256')}.{p}.{s}",
        f"{b64json({'kid': kid})}.{p}.{s}",  # no alg
        f"{b64json({'alg': ['RS256'], 'kid': kid})}.{p}.{s}",
        f"{b64json({'alg': 'RS256', 'kid': 7})}.{p}.{s}",
        b64(b"\xff\xfe") + f".{p}.{s}",  # header not UTF-8
        f"{h}.{p}!.{s}",  # payload not base64url
        f"{h}.{b64json(['sub'])}.{s}",  # payload not an object (and signature mismatch)
        f"{h}.{p}.{s}\u00e9",  # non-ASCII
        good + "." * 3,
        "x" * 20000,
    ]


async def test_malformed_tokens_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    for token in _malformed(idp, clock):
        await refused(verifier, token)


async def test_signed_but_non_json_payload_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    header = {"alg": "RS256", "kid": idp.signing_key.kid}
    for payload in (b"hello", b"[1, 2]", b'"sub"', b"null"):
        token = jws.serialize_compact(header, payload, idp.signing_key, algorithms=["RS256"])
        await refused(verifier, token)


# --- JWKS cache, discovery, outages ----------------------------------------------------------


async def test_jwks_cache_expiry_is_honoured(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock))
    await verifier.verify(token)
    assert idp.jwks_fetches == 1
    clock.advance(299)
    await verifier.verify(token)
    assert idp.jwks_fetches == 1
    clock.advance(1)
    await verifier.verify(token)
    assert idp.jwks_fetches == 2
    clock.advance(100)
    await verifier.verify(token)
    assert idp.jwks_fetches == 2


async def test_key_removed_is_refused_once_the_cache_expires(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    token = idp.sign(claims(idp, clock, exp=int(clock()) + 7200))
    await verifier.verify(token)
    idp.rotate(keep_old=False)
    clock.advance(300)
    await refused(verifier, token)


async def test_discovery_naming_another_issuer_refused(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    idp.reported_issuer = "https://evil.example"
    await refused(verifier, idp.sign(claims(idp, clock)))
    assert idp.jwks_fetches == 0


async def test_issuer_down_refuses(idp: OidcServer, clock: Clock, http: httpx.AsyncClient) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    v = TokenVerifier(
        issuer=nowhere,
        audience=AUDIENCE,
        algorithms=["RS256"],
        keys=JwksKeySource(nowhere, http, now=clock),
        leeway_s=30,
        roles_claim="roles",
        now=clock,
    )
    await refused(v, idp.sign(claims(idp, clock, iss=nowhere)))


async def test_issuer_unavailable_then_back(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier
) -> None:
    idp.available = False
    token = idp.sign(claims(idp, clock))
    for _ in range(20):  # a down issuer is not hammered: one attempt, then a short back-off
        await refused(verifier, token)
    assert idp.discovery_fetches == 1
    clock.advance(5)
    await refused(verifier, token)
    assert idp.discovery_fetches == 2
    idp.available = True
    clock.advance(5)
    assert (await verifier.verify(token)).subject == "user-1"
    assert idp.jwks_fetches == 1


async def test_stale_cache_used_while_issuer_is_down(
    own_idp: OidcServer, clock: Clock, http: httpx.AsyncClient
) -> None:
    idp = own_idp
    verifier = TokenVerifier(
        issuer=idp.issuer,
        audience=AUDIENCE,
        algorithms=["RS256"],
        keys=JwksKeySource(idp.issuer, http, now=clock),
        leeway_s=30,
        roles_claim="roles",
        now=clock,
    )
    token = idp.sign(claims(idp, clock, exp=int(clock()) + 7200))
    await verifier.verify(token)
    await idp.stop()
    clock.advance(600)  # cache expired; the refresh fails; the stale keys still verify
    assert (await verifier.verify(token)).subject == "user-1"
    # ... but a kid the stale set lacks cannot be verified
    await refused(verifier, idp.sign(claims(idp, clock), headers={"kid": "rotated-meanwhile"}))


async def test_garbage_jwks_refused(idp: OidcServer, clock: Clock, http: httpx.AsyncClient) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from tests.conftest import serve, stop

    state: dict[str, Any] = {"jwks": "not json"}

    async def discovery(_: Any) -> JSONResponse:
        return JSONResponse({"issuer": url, "jwks_uri": f"{url}/jwks"})

    async def jwks(_: Any) -> PlainTextResponse | JSONResponse:
        body = state["jwks"]
        return PlainTextResponse(body) if isinstance(body, str) else JSONResponse(body)

    app = Starlette(
        routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks)]
    )
    server, task, url = await serve(app)
    try:
        body: Any
        for body in (
            "not json",
            {"nokeys": []},
            {"keys": "x"},
            {"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "k"}]},
            {"keys": [{"kty": "RSA", "kid": idp.signing_key.kid, "n": "!!", "e": "AQAB"}]},
            {"keys": [{**idp.signing_key.as_dict(private=False), "use": "enc"}]},
        ):
            state["jwks"] = body
            v = TokenVerifier(
                issuer=url,
                audience=AUDIENCE,
                algorithms=["RS256"],
                keys=JwksKeySource(url, http, now=clock),
                leeway_s=30,
                roles_claim="roles",
                now=clock,
            )
            await refused(v, idp.sign(claims(idp, clock, iss=url)))
    finally:
        await stop(server, task)


# --- local issuer ----------------------------------------------------------------------------


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, oidc_audience=AUDIENCE, oidc_roles_claim="roles")


async def test_local_issue_verify_roundtrip(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = issue_token(settings, subject="alice", name="Alice", roles=["mlgraph-admin", "x"])
    identity = await local_verifier(settings).verify(token)
    assert identity.subject == "alice"
    assert identity.name == "Alice"
    assert identity.roles == frozenset({"mlgraph-admin", "x"})
    assert identity.issuer == LOCAL_ISSUER
    remaining = (identity.expires_at - datetime.now(UTC)).total_seconds()
    assert 12 * 3600 - 60 < remaining <= 12 * 3600


async def test_local_key_file_created_once_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    key = load_or_create_key(data_dir)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    again = load_or_create_key(data_dir)
    assert again.kid == key.kid
    assert path.read_bytes() == content
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE]  # no temp files left behind
    assert key.is_private
    assert key.curve_name == "P-256"
    # tokens issued before and after a reload verify with a verifier built from the file
    settings = _settings(data_dir)
    token = issue_token(settings, subject="bob")
    assert (await local_verifier(settings).verify(token)).name == "bob"


async def test_local_token_from_another_key_refused(tmp_path: Path) -> None:
    ours = _settings(tmp_path / "ours")
    theirs = _settings(tmp_path / "theirs")
    token = issue_token(theirs, subject="mallory", roles=["mlgraph-admin"])
    await refused(local_verifier(ours), token)
    # even with our kid in the header, their signature does not verify
    their_key = load_or_create_key(theirs.data_dir)
    our_kid = load_or_create_key(ours.data_dir).kid
    header = {"alg": "ES256", "kid": our_kid}
    c = {"iss": LOCAL_ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60}
    forged = jws.serialize_compact(header, json.dumps(c), their_key, algorithms=["ES256"])
    await refused(local_verifier(ours), forged)


async def test_local_token_short_ttl_and_audience(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = issue_token(settings, subject="carol", ttl_s=60)
    identity = await local_verifier(settings).verify(token)
    assert (identity.expires_at - datetime.now(UTC)).total_seconds() <= 60
    other_audience = Settings(data_dir=tmp_path, oidc_audience="someone-else")
    await refused(local_verifier(other_audience), token)


async def test_local_token_is_not_an_oidc_token(
    tmp_path: Path, idp: OidcServer, verifier: TokenVerifier
) -> None:
    token = issue_token(_settings(tmp_path), subject="alice")
    await refused(verifier, token)


async def test_oidc_token_is_not_a_local_token(
    tmp_path: Path, idp: OidcServer, clock: Clock
) -> None:
    settings = _settings(tmp_path)
    key = load_or_create_key(tmp_path)
    # an issuer token claiming the local issuer, signed with the issuer's EC key
    token = idp.sign(claims(idp, clock, iss=LOCAL_ISSUER), alg="ES256", headers={"kid": key.kid})
    await refused(local_verifier(settings), token)


async def test_static_key_source_refuses_unknown_kid(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    public = ECKey.import_key(key.as_dict(private=False))
    v = TokenVerifier(
        issuer=LOCAL_ISSUER,
        audience=AUDIENCE,
        algorithms=["ES256"],
        keys=StaticKeySource(KeySet([public])),
        leeway_s=0,
        roles_claim="roles",
    )
    c = {"iss": LOCAL_ISSUER, "aud": AUDIENCE, "sub": "s", "exp": int(time.time()) + 60}
    good = jws.serialize_compact({"alg": "ES256", "kid": "k1"}, json.dumps(c), key)
    assert (await v.verify(good)).subject == "s"
    bad = jws.serialize_compact({"alg": "ES256", "kid": "k2"}, json.dumps(c), key)
    await refused(v, bad)


def test_key_file_permissions_are_0600_regardless_of_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_key(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


async def test_a_token_used_again_is_not_verified_again_but_still_expires(
    idp: OidcServer, clock: Clock, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a client that sends the same token with every request, its signature is checked
    once; its time claims are checked on every use, so it still expires on time."""
    signatures: list[str] = []
    decode = jwt.decode  # joserfc.jwt: the module mlgraph.auth.tokens calls it through

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        signatures.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    token = idp.sign(claims(idp, clock, exp=int(clock()) + 60))
    for _ in range(5):
        assert (await verifier.verify(token)).subject == "user-1"
    assert signatures == [token]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    await refused(verifier, tampered)  # another text: verified in full, and refused
    clock.advance(60 + 30)
    await refused(verifier, token)
    await refused(verifier, token)
