"""The SSRF guard: which webhook URLs are acceptable, and which addresses they may reach.

A URL must be https (http only when the settings allow it), carry no credentials, stay under
``URL_MAX`` characters and name a host. Its host, whether an IP literal (including the
decimal, octal, hex and short IPv4 spellings ``inet_aton`` accepts) or a name, must resolve
only to public unicast addresses: loopback, private, link-local, CGNAT, multicast, reserved,
unspecified and cloud metadata addresses are refused, also when wrapped in an IPv6 form
(IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). Listed ``host:port`` loopback receivers
may be allowed by the settings (tests, benchmarks).

``resolve`` is what the delivery transport connects to, so a name that re-resolves elsewhere
after the check (DNS rebinding) is never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

URL_MAX = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
#: Special-purpose ranges refused whatever this Python's ``is_global`` says of them.
_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "100::/64",
        "2001:db8::/32",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class UnsafeUrl(Exception):
    """A URL the guard refuses; ``reason`` is ``scheme``, ``credentials``, ``length``,
    ``host``, ``unresolvable`` or ``address``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Policy:
    allow_http: bool = False
    #: ``host:port`` of the loopback receivers allowed, comma separated, or empty.
    allow_loopback: str = ""

    def loopback_allowed(self, host: str, port: int) -> bool:
        return f"{host}:{port}" in {a.strip() for a in self.allow_loopback.split(",")} - {""}


def check_syntax(raw: str, policy: Policy) -> httpx.URL:
    """The parsed URL if its form is acceptable (no resolution)."""
    if len(raw) > URL_MAX:
        raise UnsafeUrl("length", f"the URL is over {URL_MAX} characters")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UnsafeUrl("host", "not a valid absolute URL") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if url.scheme not in schemes:
        raise UnsafeUrl("scheme", f"the scheme must be {' or '.join(schemes)}")
    if url.userinfo:
        raise UnsafeUrl("credentials", "the URL must not carry credentials")
    if not url.host:
        raise UnsafeUrl("host", "the URL has no host")
    if any(c in url.host for c in "%\\ "):
        raise UnsafeUrl("host", "the host is not a plain name or address")
    return url


def denial(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached, or None if it is a public unicast address."""
    if ip in _METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = denial(inner)
            return None if reason is None else f"an IPv6 form of {reason}"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a CGNAT (shared) address"
    if any(ip in net for net in _SPECIAL if net.version == ip.version):
        return "a special-purpose address"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "a private or reserved address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    packed = int(ip)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        return ipaddress.IPv4Address(packed)
    return None


def ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address if it spells one, including ``inet_aton``'s forms
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``); else None (a name)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _aton_part(part)
        if number is None:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _aton_part(part: str) -> int | None:
    lowered = part.lower()
    try:
        if lowered.startswith("0x"):
            return int(lowered[2:] or "0", 16)
        if len(lowered) > 1 and lowered.startswith("0"):
            return int(lowered[1:], 8)
        return int(lowered, 10) if lowered.isdigit() else None
    except ValueError:
        return None


async def resolve(url: httpx.URL, policy: Policy) -> list[IPAddress]:
    """Every address ``url``'s host resolves to, if all of them may be reached; else
    ``UnsafeUrl``. Nothing connects: only the resolver is asked."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    literal = ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await _lookup(host, port)
    loopback_ok = policy.loopback_allowed(host, port)
    for ip in addresses:
        reason = denial(ip)
        if reason is not None and not (loopback_ok and ip.is_loopback):
            raise UnsafeUrl("address", f"{host} is or resolves to {reason}")
    return addresses


async def _lookup(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl("unresolvable", f"{host} does not resolve") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise UnsafeUrl("unresolvable", f"{host} does not resolve")
    return found
