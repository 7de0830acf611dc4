"""Which callback URLs the service may POST to, and where it connects (SSRF).

A URL is `http` or `https` (`https` only in production), without user
credentials. Unless CALLBACK_ALLOW_PRIVATE_TARGETS (on in development, off in
production), its host must be, or resolve only to, public addresses: never
loopback, private, link-local, site-local, multicast, reserved or unspecified
ones, nor an IPv6 spelling of such an IPv4 address (mapped, compatible,
translated, NAT64, 6to4, Teredo). That is checked when the URL is set and
again, after a fresh DNS resolution, on every delivery attempt; the attempt
then connects to the address that was checked (the Host header and TLS server
name stay the URL's), so a DNS answer that changes between the check and the
connection cannot redirect it.

The URL is parsed by httpx, the same parser that connects, so the check and
the connection cannot read a URL two ways.
"""

import ipaddress
import socket
from dataclasses import dataclass, field

import httpx
from django.conf import settings


class UnsafeTarget(Exception):
    """Raised when a callback URL is refused: not http(s), malformed, http in
    production, or a host that is (or resolves to) a non-public address while
    private targets are not allowed."""


@dataclass(frozen=True)
class Target:
    """What one delivery attempt connects to."""

    url: str
    headers: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)


def check_url(url: str) -> str:
    """The URL as it will be called (normalised: lowercase scheme and host);
    raises UnsafeTarget if the service may not POST to it."""
    parsed = _parse(url)
    if not settings.CALLBACK_ALLOW_PRIVATE_TARGETS:
        _public_address(parsed)
    return str(parsed)


def resolve_target(url: str) -> Target:
    """Where this attempt connects: the URL itself when private targets are
    allowed, else the URL pinned to the public address just checked."""
    parsed = _parse(url)
    if settings.CALLBACK_ALLOW_PRIVATE_TARGETS:
        return Target(url=str(parsed))
    return pinned_target(parsed, _public_address(parsed))


def pinned_target(parsed: httpx.URL, address: str) -> Target:
    host = parsed.raw_host.decode("ascii")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    # Connection: close, as the pool knows a pinned connection by its address
    # alone and could reuse one made for another host name at that address.
    return Target(
        url=str(parsed.copy_with(host=address)),
        headers={"Host": parsed.netloc.decode("ascii"), "Connection": "close"},
        extensions=extensions,
    )


# IPv6 prefixes whose last 32 bits are an IPv4 address that the connection
# reaches: IPv4-compatible (::/96, deprecated but still routed by some stacks),
# IPv4-mapped, IPv4-translated (SIIT) and NAT64's well-known prefix. Python's
# is_global judges these as IPv6 (::7f00:1 and 64:ff9b::7f00:1 are "global").
_IPV4_SPELLINGS = [
    ipaddress.IPv6Network(prefix) for prefix in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
]
# Never public, whatever they embed: NAT64's local-use prefix (RFC 8215, where
# the IPv4 bits sit by a prefix length only the local network knows) and the
# deprecated site-local range (RFC 3879), which Python counts as global.
_NEVER_PUBLIC = [ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10")]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC):
            return False
        if any(address in network for network in _IPV4_SPELLINGS):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        # Tunnels (6to4, Teredo) reach the IPv4 addresses they embed, and must be public themselves.
        tunnelled = [address.sixtofour] if address.sixtofour else list(address.teredo or ())
        if not all(is_public(ipv4) for ipv4 in tunnelled):
            return False
    # is_global is False for loopback, private, link-local, reserved,
    # unspecified and shared (100.64/10) addresses; multicast must be asked.
    return address.is_global and not address.is_multicast


def _parse(url: str) -> httpx.URL:
    if any(character.isspace() or not character.isprintable() for character in url):
        raise UnsafeTarget("The URL may not contain white space or control characters.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise UnsafeTarget(f"Not a valid URL: {error}") from None
    schemes = ("https",) if settings.PRODUCTION else ("http", "https")
    if parsed.scheme not in schemes:
        raise UnsafeTarget(f"The URL must start with {' or '.join(f'{s}://' for s in schemes)}.")
    if not parsed.raw_host:
        raise UnsafeTarget("The URL has no host.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UnsafeTarget("The URL's port must be 1 to 65535.")
    if parsed.userinfo:
        raise UnsafeTarget("The URL may not carry a user name or password; the signature authenticates the service.")
    return parsed


def _public_address(parsed: httpx.URL) -> str:
    """The first address the URL's host resolves to, if every one of them is public."""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = parsed.raw_host.decode("ascii")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeTarget(f"The host {host} could not be resolved.") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if not is_public(ipaddress.ip_address(address.split("%")[0])):
            raise UnsafeTarget(f"The host {host} is or resolves to a non-public address ({address}).")
    return addresses[0]
