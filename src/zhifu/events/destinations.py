"""Where zhifu may send a request: public internet addresses only.

Webhook endpoints and Alipay `notify_url`s are URLs that merchants choose, and zhifu
POSTs to them from inside its own network. Left unchecked, they reach what only zhifu
can reach: the cloud's metadata service (169.254.169.254), the database, an admin port
on localhost. So a destination is refused when it is, or resolves to, an address that is
not globally routable: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
link-local (169.254/16, fe80::/10), shared (100.64/10), multicast, unspecified or
reserved, an IPv4 address inside IPv6 (::ffff:10.0.0.1) included.

The check runs twice. When the URL is registered (`check_url`), on what the URL says
without asking DNS: a literal address in any spelling (`2852039166`, `0xA9FEA9FE`,
`0251.0376.0251.0376` are all 169.254.169.254), `localhost` and the metadata names.
And when zhifu connects (`PublicOnlyTransport`): the host is resolved, every address it
resolves to is checked, and the connection goes to a checked address, so a name that
resolved to a public address at registration and to a private one now (DNS rebinding)
is refused at delivery, which records the refusal as the failed attempt's reason.

`allow_hosts` (ZHIFU_WEBHOOK_ALLOW_HOSTS) lifts the rule for named hosts and networks:
"127.0.0.1", "localhost", "10.0.0.0/8", for local development and the tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from zhifu.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that reach a machine's own services or a cloud's metadata service.
LOCAL_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
LOCAL_SUFFIXES = (".localhost", ".internal")
_IPV4_SPELLING = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")


class UnsafeDestination(InvalidRequest):
    code = "unsafe_destination"
    title = "Destination not allowed"


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling inet_aton accepts, or None."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_SPELLING.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def why_not_public(address: IPAddress) -> str | None:
    """Why zhifu must not connect to this address, or None if it is a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return why_not_public(address.ipv4_mapped)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _networks(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in (entry.strip().lower() for entry in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return frozenset(names), tuple(networks)


@dataclass(frozen=True)
class Destinations:
    """The rule for outgoing requests, with the allow-list of the settings."""

    allow_hosts: tuple[str, ...] = ()
    _names: frozenset[str] = field(init=False, repr=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names, networks = _networks(self.allow_hosts)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_networks", networks)

    def check_url(self, url: str, *, name: str = "url") -> str:
        """The URL, if it is an absolute http(s) URL whose host may be a destination."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as error:
            raise InvalidRequest(f"invalid {name}: {error}") from error
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidRequest(f"{name} must be an absolute http or https url")
        host = parsed.host.rstrip(".").lower()
        if host in self._names:
            return url
        address = literal_address(host)
        if address is not None:
            self.check_address(address, host)
        elif host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES):
            raise UnsafeDestination(f"{name} must be a public host, not {host}", host=host)
        return url

    def check_address(self, address: IPAddress, host: str) -> None:
        if any(address in network for network in self._networks):
            return
        reason = why_not_public(address)
        if reason is not None:
            raise UnsafeDestination(
                f"{host} is {reason}" if str(address) == host else f"{host} is at {reason}",
                host=host,
                address=str(address),
            )

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`, each checked; UnsafeDestination if
        any of them is not allowed (a name must not point inside at all)."""
        if host.rstrip(".").lower() in self._names:
            return [host]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check_address(ipaddress.ip_address(address.split("%")[0]), host)
        return addresses


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the destinations rule allows, resolving
    the host itself so that the address checked is the address connected to."""

    def __init__(self, destinations: Destinations) -> None:
        self._destinations = destinations
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._destinations.resolve(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, connecting only where `destinations` allows. httpx takes no
    network backend, so its connection pool is replaced by one that has ours; proxies
    from the environment are ignored (one would connect for us, unchecked)."""

    def __init__(self, destinations: Destinations) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_CheckedBackend(destinations),
        )


PUBLIC_ONLY = Destinations()
