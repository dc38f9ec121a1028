"""Which peers may speak for the client: X-Forwarded-For and X-Forwarded-Proto are
believed only when they come from a trusted proxy (TRUSTED_PROXIES, addresses or CIDRs).

The client's address is found by walking X-Forwarded-For from the right, past every hop
that is itself a trusted proxy: the first untrusted hop is the client. A peer that is not
a trusted proxy is the client, whatever it writes in the headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from nameko.exceptions import ConfigurationError

from gateway.raw import AnyRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where the web layer notes, in a request's environ, the client address it worked out.
CLIENT_KEY = "shop.client"
MAX_HOPS = 20  # a longer X-Forwarded-For is cut: walking it costs the client nothing


class TrustedProxies:
    """The proxies whose forwarded headers are believed."""

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """From TRUSTED_PROXIES' entries ("10.0.0.7", "10.42.0.0/16", "::1");
        ConfigurationError naming a bad one."""
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"TRUSTED_PROXIES: {entry!r} is not an address or a CIDR") from None
        return cls(networks)

    def trusts(self, address: str | None) -> bool:
        if not self.networks or not address:
            return False
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client: the peer, or, when the peer is trusted, the rightmost untrusted hop
        of X-Forwarded-For (the leftmost one when every hop is trusted)."""
        if not forwarded_for or not self.trusts(peer):
            return peer or "unknown"
        hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_HOPS:]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop if _is_address(hop) else "unknown"
        return hops[0] or "unknown"

    def client(self, request: AnyRequest) -> str:
        """The request's client address, worked out once and kept in its environ."""
        known: str | None = request.environ.get(CLIENT_KEY)
        if known is None:
            known = self.client_address(request.remote_addr,
                                        request.headers.get("X-Forwarded-For"))
            request.environ[CLIENT_KEY] = known
        return known

    def came_over_tls(self, scheme: str, peer: str | None, forwarded_proto: str | None) -> bool:
        """Whether the client used TLS: our own scheme, or what the nearest proxy says, if
        it is trusted (its value is the rightmost; anything left of it is the client's)."""
        if scheme == "https":
            return True
        if not forwarded_proto or not self.trusts(peer):
            return False
        return forwarded_proto.rsplit(",", 1)[-1].strip().lower() == "https"


def _is_address(text: str) -> bool:
    """Whether a forwarded hop is an address (a rate-limit key must not be free text)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
