"""The dispatcher's HTTP transport: connect only to the address that was checked.

httpx resolves a host name when it opens a connection; an attacker's DNS can answer a public
address when the URL is saved and 127.0.0.1 when we send (DNS rebinding). This transport
resolves the name itself, refuses the connection unless every address passes
``app.subscriptions.destinations.check_addresses``, and then connects to that address. The
request keeps the name: httpx sends ``Host`` from the URL and httpcore uses the URL's host
for TLS SNI and certificate checks. Redirects are never followed (the clients say so).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import anyio
import httpcore
import httpx

from app.subscriptions.destinations import Resolver, check_addresses, resolve_host

__all__ = ["CheckedNetworkBackend", "DestinationRefused", "checked_transport"]


class DestinationRefused(httpcore.ConnectError):
    """The host resolves to an address webhooks may not reach (httpx: ConnectError)."""


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves once per connection, checks every address, connects to a checked one."""

    def __init__(self, *, allow_private: bool, resolve: Resolver = resolve_host) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if port == 0:
            raise DestinationRefused("port 0 is not a webhook destination")
        try:
            with anyio.fail_after(timeout):
                addresses = await anyio.to_thread.run_sync(self._resolve, host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"host {host!r} does not resolve: {exc}") from exc
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        if not self._allow_private:
            why = check_addresses(host, addresses)
            if why is not None:
                raise DestinationRefused(why)
        if not addresses:
            raise DestinationRefused(f"host {host!r} resolves to no address")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("webhooks never go to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self, *, verify: ssl.SSLContext, limits: httpx.Limits, backend: CheckedNetworkBackend
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx takes no network backend; its pool is rebuilt with the same settings plus
        # ours (httpx's request/response mapping and error translation stay as they are).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def checked_transport(
    *,
    allow_private: bool,
    verify: ssl.SSLContext | None = None,
    limits: httpx.Limits | None = None,
    resolve: Resolver = resolve_host,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that sends only to addresses passing the SSRF rules
    (any address when ``allow_private``), connecting to the address it checked."""
    return _CheckedTransport(
        verify=verify or httpx.create_ssl_context(),
        limits=limits or httpx.Limits(),
        backend=CheckedNetworkBackend(allow_private=allow_private, resolve=resolve),
    )
