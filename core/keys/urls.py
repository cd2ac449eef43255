"""Where a user's own OpenAI-compatible server may be: not inside the portal's own network.

Otherwise "Check key" (and every chat) would let any user make the server call loopback, private or
link-local addresses, and tell an open port from a closed one (server-side request forgery). Admins allow
such hosts by name in config.yaml (keys.allowed_private_hosts: a local Ollama is the usual case); the
organisation's own keys, set by admins, may point anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from core.config import Settings, get_settings
from core.errors import ValidationError
from core.i18n import Msg


def _inside(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


def check_public_url(url: str, settings: Settings | None = None, *, allowed: Iterable[str] | None = None) -> None:
    """ValidationError unless every address url's host resolves to is public, or the host is allowed (allowed:
    these host names instead of keys.allowed_private_hosts)."""
    settings = settings or get_settings()
    allowed = settings.keys.allowed_private_hosts if allowed is None else allowed
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError(Msg("keys.bad_url")) from None
    if not host:
        raise ValidationError(Msg("keys.bad_url"))
    if host.lower() in {h.lower() for h in allowed}:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        raise ValidationError(Msg("keys.url_unresolvable", host=host[:100])) from None
    if any(_inside(str(a)) for a in addresses):
        raise ValidationError(Msg("keys.url_private", host=host[:100]))
