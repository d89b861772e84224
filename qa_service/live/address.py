"""Which addresses a webhook may call. A webhook is a request the server sends wherever an admin says: to this
machine (its Redis, its database, a local admin port) or to a cloud's metadata service (169.254.169.254) that
would be a way into what the network keeps apart. Loopback and link-local addresses are refused unless
``QA_LIVE__WEBHOOK_ALLOW_LOCAL``; private ones (an intranet's own receivers) are allowed unless
``QA_LIVE__WEBHOOK_ALLOW_PRIVATE`` is false. Checked when a webhook is made and before every try (a name
may resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket

import httpx

from qa_service.config import LiveSettings

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in practice


def address_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """``local`` (this machine, link-local, unspecified), ``private``, or None (public)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return "local"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        return "private"
    return None


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` names without asking DNS: itself when it is one, 127.0.0.1 for ``localhost`` (and
    ``*.localhost``), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    if host.lower().rstrip(".") == "localhost" or host.lower().rstrip(".").endswith(".localhost"):
        return ipaddress.ip_address("127.0.0.1")
    return None


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses ``host`` names: itself when it is one, else what it resolves to (none when it does not:
    the call then fails on its own, with the HTTP client's error)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def address_problem(url: str, settings: LiveSettings) -> str | None:
    """Why a webhook may not call ``url``'s host under ``settings`` (one line naming the setting), or None."""
    if settings.webhook_allow_local and settings.webhook_allow_private:
        return None
    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError):
        return None  # not an address at all: said elsewhere (supervise.url_problem, or the try's error)
    for ip in _addresses(host, port):
        kind = address_kind(ip)
        if kind == "local" and not settings.webhook_allow_local:
            return (f"names {host} ({ip}): this machine or a link-local address, which a webhook may not call "
                    "unless QA_LIVE__WEBHOOK_ALLOW_LOCAL=true")
        if kind == "private" and not settings.webhook_allow_private:
            return (f"names {host} ({ip}): a private address, which a webhook may not call while "
                    "QA_LIVE__WEBHOOK_ALLOW_PRIVATE=false")
    return None


def listed_refusal(url: str, settings: LiveSettings) -> str | None:
    """Why deliveries to ``url`` are refused under ``settings``, said for a webhook's listing (``GET
    /v1/webhooks``: ``loopback address 127.0.0.1; set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true``), or None. Read from the
    URL alone, with no DNS lookup (a listing must not wait on one): a literal address or ``localhost``; a name
    that resolves to a refused address is said by each delivery's error instead."""
    if settings.webhook_allow_local and settings.webhook_allow_private:
        return None
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, ValueError):
        return None
    ip = _literal(host)
    if ip is None:
        return None
    kind, bare = address_kind(ip), ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
    named = f"{bare} ({host})" if host.lower().rstrip(".").endswith("localhost") else f"{bare}"
    if kind == "local" and not settings.webhook_allow_local:
        what = "loopback" if bare.is_loopback else "link-local" if bare.is_link_local else "unspecified"
        return f"{what} address {named}; set QA_LIVE__WEBHOOK_ALLOW_LOCAL=true"
    if kind == "private" and not settings.webhook_allow_private:
        return f"private address {named}; set QA_LIVE__WEBHOOK_ALLOW_PRIVATE=true"
    return None

