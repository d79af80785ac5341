"""The SSRF guard with a patched resolver (``socket.getaddrinfo``) and a guard on
``socket.connect``: every deny range is refused before any connection, a name resolving to one
too; the delivery transport connects only to the address it checked. No test sends traffic to a
non-loopback address."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlgraph.webhooks.transport import PinnedTransport, RefusedAddress
from mlgraph.webhooks.urls import Policy, UnsafeUrl, check_syntax, ip_literal, resolve
from tests.conftest import free_port, serve, stop

DENIED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.1.1",
    "100.64.0.1",  # CGNAT
    "100.100.100.200",  # Alibaba metadata (CGNAT)
    "0.0.0.0",  # noqa: S104 - a string under test, nothing binds
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata (IPv6)
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo whose client is 10.0.0.1
]
SPELLINGS = {
    "2130706433": "127.0.0.1",
    "0x7f000001": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "0177.0.0.01": "127.0.0.1",
    "127.1": "127.0.0.1",
    "0x7f.0x0.0x0.0x1": "127.0.0.1",
    "0xa9.0xfe.0xa9.0xfe": "169.254.169.254",
    "2852039166": "169.254.169.254",
    "10.1": "10.0.0.1",
    "012.0.0.1": "10.0.0.1",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any connect to a non-loopback address; record every connect."""
    seen: list[Any] = []
    real = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        seen.append(address)
        host = address[0] if isinstance(address, tuple) else address
        if not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"connect to {address!r} attempted")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return seen


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    asked: list[str] = []
    real = socket.getaddrinfo

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port or 443, 0, 0) if ":" in a else (a, port or 443),
            )
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return asked


def url_for(ip: str) -> str:
    return f"https://[{ip}]/hook" if ":" in ip else f"https://{ip}/hook"


@pytest.mark.parametrize("ip", DENIED)
async def test_every_deny_range_is_refused_as_a_literal(ip: str, no_connect: list[Any]) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await resolve(check_syntax(url_for(ip), Policy()), Policy())
    assert refused.value.reason == "address"
    assert no_connect == []


@pytest.mark.parametrize("ip", DENIED)
async def test_a_name_resolving_to_a_denied_address_is_refused(
    ip: str, monkeypatch: pytest.MonkeyPatch, no_connect: list[Any]
) -> None:
    asked = fake_dns(monkeypatch, {"hooks.attacker.test": ["93.184.216.34", ip]})
    with pytest.raises(UnsafeUrl) as refused:
        await resolve(check_syntax("https://hooks.attacker.test/x", Policy()), Policy())
    assert refused.value.reason == "address"
    assert asked == ["hooks.attacker.test"]
    assert no_connect == []


@pytest.mark.parametrize(("spelling", "meant"), SPELLINGS.items())
async def test_decimal_octal_hex_spellings_are_read_as_addresses(
    spelling: str, meant: str, monkeypatch: pytest.MonkeyPatch, no_connect: list[Any]
) -> None:
    assert ip_literal(spelling) == ipaddress.ip_address(meant)
    asked = fake_dns(monkeypatch, {})
    with pytest.raises(UnsafeUrl) as refused:
        await resolve(check_syntax(f"https://{spelling}/x", Policy()), Policy())
    # httpx itself rejects some spellings (e.g. leading-zero octets) as malformed hosts.
    assert refused.value.reason in ("address", "host")
    assert asked == []  # judged without asking the resolver
    assert no_connect == []


@pytest.mark.parametrize("ip", PUBLIC)
async def test_public_addresses_pass(ip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": [ip]})
    found = await resolve(check_syntax("https://hooks.example.com/x", Policy()), Policy())
    assert found == [ipaddress.ip_address(ip)]


@pytest.mark.parametrize(
    ("url", "reason", "policy"),
    [
        ("http://hooks.example.com/x", "scheme", Policy()),
        ("gopher://hooks.example.com/x", "scheme", Policy(allow_http=True)),
        ("https://user:secret@hooks.example.com/x", "credentials", Policy()),
        ("https://hooks.example.com/" + "x" * 2048, "length", Policy()),
        ("https:///x", "host", Policy()),
        ("not a url", "scheme", Policy()),
    ],
)
def test_url_form_is_checked_before_any_lookup(url: str, reason: str, policy: Policy) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        check_syntax(url, policy)
    assert refused.value.reason == reason


async def test_an_unresolvable_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolver(*_: Any, **__: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "unknown")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(UnsafeUrl) as refused:
        await resolve(check_syntax("https://nowhere.test/x", Policy()), Policy())
    assert refused.value.reason == "unresolvable"


async def test_allowed_loopback_receivers_are_exactly_the_listed_hosts_and_ports() -> None:
    policy = Policy(allow_http=True, allow_loopback="127.0.0.1:4455, 127.0.0.1:4457")
    assert await resolve(check_syntax("http://127.0.0.1:4455/x", policy), policy)
    assert await resolve(check_syntax("http://127.0.0.1:4457/x", policy), policy)
    for other in ("http://127.0.0.1:4456/x", "http://10.0.0.1:4455/x", "http://[::1]:4455/x"):
        with pytest.raises(UnsafeUrl):
            await resolve(check_syntax(other, policy), policy)


async def test_transport_connects_to_the_checked_address_not_a_rebound_one(
    monkeypatch: pytest.MonkeyPatch, no_connect: list[Any]
) -> None:
    """The name resolves to the allowed loopback receiver when checked; the transport connects
    to that address itself (Host header kept), so no second lookup can send it elsewhere."""

    async def hook(request: Request) -> JSONResponse:
        return JSONResponse({"host": request.headers["host"]})

    port = free_port()
    server, task, _ = await serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), port)
    answers = {"receiver.test": ["127.0.0.1"]}
    asked = fake_dns(monkeypatch, answers)
    policy = Policy(allow_http=True, allow_loopback=f"receiver.test:{port}")
    try:
        async with httpx.AsyncClient(transport=PinnedTransport(policy), trust_env=False) as c:
            response = await c.post(f"http://receiver.test:{port}/hook", content=b"{}")
            assert response.json() == {"host": f"receiver.test:{port}"}
            assert asked == ["receiver.test"]
            assert [a[0] for a in no_connect] == ["127.0.0.1"]
            answers["receiver.test"] = ["169.254.169.254"]  # rebinding to the metadata address
            with pytest.raises(RefusedAddress):
                await c.post(f"http://receiver.test:{port}/hook", content=b"{}")
            assert len(no_connect) == 1
    finally:
        await stop(server, task)
