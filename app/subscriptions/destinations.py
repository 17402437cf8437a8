"""Where webhooks may go: the SSRF rules, checked when a URL is saved and again at send time.

A destination must be globally routable (``ipaddress``'s ``is_global``, which also refuses
the shared address space 100.64.0.0/10 of cloud metadata services) and neither multicast nor
reserved. IPv6 addresses that wrap an IPv4 one (IPv4-mapped, IPv4-compatible, 6to4, Teredo,
NAT64) are unwrapped and the IPv4 address must pass too: ``2002:7f00:1::`` is 127.0.0.1.
Port 0 is refused. ``HAZEWARN_ALLOW_PRIVATE_WEBHOOKS`` lifts the address rule (tests and
local benchmarks send to loopback); the URL shape rules stay.

Saving a URL resolves its host once; the dispatcher resolves again for every new connection,
checks each address and connects to the checked address itself (``app.outbox.transport``),
so a DNS answer that changes after the check (rebinding) cannot reach an internal address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = [
    "ALLOWED_SCHEMES",
    "IPAddress",
    "Resolver",
    "check_addresses",
    "check_webhook_url",
    "embedded_ipv4",
    "refusal",
    "resolve_host",
]

ALLOWED_SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolve(host, port)`` → every address the host resolves to (text, no brackets).
Resolver = Callable[[str, int], list[str]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
#: Forms whose packets reach the wrapped IPv4 address, so it alone decides; a 6to4 or
#: Teredo address must also be global itself.
_TRANSLATED = ("IPv4-mapped", "IPv4-compatible", "NAT64")


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """(how it is wrapped, the IPv4 address) when ``address`` carries one, else None."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "Teredo", address.teredo[1]  # the client's (public side) address
    if any(address in net for net in _NAT64):
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(address))
    return None


def _label(address: IPAddress) -> str | None:
    """The kind of non-public range ``address`` is in, or None for a global unicast one."""
    for label, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (100.64.0.0/10)", address in _SHARED),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    ):
        if flag:
            return label
    return None


def refusal(address: IPAddress) -> str | None:
    """Why webhooks may not go to ``address`` (e.g. "loopback 127.0.0.1 wrapped in 6to4"),
    or None when it is a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = embedded_ipv4(address)
        if wrapped is not None:
            kind, inner = wrapped
            why = _label(inner)
            if why is not None:
                return f"{why} address {inner} wrapped in {kind} address {address}"
            if kind in _TRANSLATED:  # the packets go to the IPv4 address itself
                return None
    why = _label(address)
    return f"{why} address {address}" if why is not None else None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def check_addresses(host: str, addresses: list[str]) -> str | None:
    """Why ``host`` may not receive webhooks given what it resolved to, or None. Every
    address must pass: a name with one internal address among public ones is refused."""
    if not addresses:
        return f"host {host!r} resolves to no address"
    for text in addresses:
        why = refusal(ipaddress.ip_address(text))
        if why is not None:
            return f"host {host!r} resolves to {why}; webhooks go to public addresses only"
    return None


def check_webhook_url(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> str:
    """The URL if it may receive webhooks; ``ValueError(why)`` if not.

    http(s) only, a host, no credentials, a port from 1 to 65535. Unless ``allow_private``,
    the host is resolved and every address must be globally routable (see the module note).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ValueError("webhook URL must start with https:// or http://")
    if not parts.hostname:
        raise ValueError("webhook URL has no host")
    if parts.username or parts.password:
        raise ValueError("webhook URL must not carry credentials")
    if port == 0:
        raise ValueError("webhook URL port must be from 1 to 65535, not 0")
    if allow_private:
        return url
    host = parts.hostname
    try:
        resolver = resolve or resolve_host
        addresses = resolver(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"host {host!r} does not resolve: {exc}") from None
    why = check_addresses(host, addresses)
    if why is not None:
        raise ValueError(why)
    return url
