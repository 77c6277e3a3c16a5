"""Outbound URLs we are told to call (a reseller's notify_url): which addresses a host means, and whether any
of them is inside (loopback, private, link-local, CGNAT, reserved, multicast, or one of those wrapped in IPv6).

A host is read the way the OS resolver reads it, so every spelling of an address counts: `2130706433`,
`0177.0.0.1`, `0x7f.1` and `127.1` are all 127.0.0.1 (inet_aton), `[::ffff:127.0.0.1]` is too. Names are
resolved with getaddrinfo; the caller connects to the address that was checked (see channels.callbacks), so
a second lookup (DNS rebinding) cannot send the request elsewhere.
"""

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: NAT64: the well-known prefix embeds an IPv4 address in its last 32 bits; the local-use one is all inside.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
#: IPv4-compatible IPv6 (deprecated, still routed to the IPv4 address by some stacks).
V4_COMPATIBLE = ipaddress.ip_network("::/96")


class Unresolvable(Exception):
    """The host has no address (or is not a valid host name)."""


def literal(host: str) -> Address | None:
    """The address `host` spells, in any form the resolver accepts, or None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))  # decimal, octal, hex, short forms
    except (OSError, UnicodeError, ValueError):
        return None


def resolve(host: str) -> list[Address]:
    """Every address `host` stands for; raises Unresolvable."""
    if not host:
        raise Unresolvable(host)
    found = literal(host)
    if found is not None:
        return [found]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise Unresolvable(host) from e
    addresses = []
    for info in infos:
        a = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if a not in addresses:
            addresses.append(a)
    if not addresses:
        raise Unresolvable(host)
    return addresses


def is_internal(a: Address) -> bool:
    if isinstance(a, ipaddress.IPv6Address):
        if a.ipv4_mapped is not None:
            return is_internal(a.ipv4_mapped)
        if a in NAT64_LOCAL:
            return True
        if a in NAT64 or (a in V4_COMPATIBLE and int(a) > 1):
            return is_internal(ipaddress.IPv4Address(int(a) & 0xFFFFFFFF))
        if a.sixtofour is not None:
            return is_internal(a.sixtofour)
        if a.teredo is not None:
            return True
    return (not a.is_global or a.is_multicast or a.is_private or a.is_loopback or a.is_link_local
            or a.is_reserved or a.is_unspecified)


def internal_name(host: str) -> bool:
    """Names that mean this machine whatever DNS says."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def public_addresses(host: str) -> list[Address]:
    """The host's addresses when every one of them is public; raises Unresolvable, or InternalAddress."""
    if internal_name(host):
        raise InternalAddress(host)
    addresses = resolve(host)
    if any(is_internal(a) for a in addresses):
        raise InternalAddress(host)
    return addresses


class InternalAddress(Exception):
    """The host is, or resolves to, an address inside."""
