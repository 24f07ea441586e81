"""Yealink RPS (Redirection and Provisioning Service): XML-RPC over HTTPS with Basic auth.

``redirect.registerDeviceWithUniqueUrl(mac, serverName, url, override)`` registers (override
true: our URL replaces an older one of ours), ``redirect.deRegisterDevice(mac)`` removes,
``redirect.checkDevice(mac)`` reads; each answers ``[success, message]``.
"""

from __future__ import annotations

from typing import Any

NAME = "Yealink RPS (XML-RPC)"
DEFAULT_RPC_URL = "https://rps.yealink.com/xmlrpc"


def register(account: dict[str, Any], mac: str, url: str) -> tuple[str, tuple[Any, ...]]:
    server_name = account.get("server_name") or "provisioner"
    return "redirect.registerDeviceWithUniqueUrl", (mac, server_name, url, True)


def deregister(account: dict[str, Any], mac: str) -> tuple[str, tuple[Any, ...]]:
    return "redirect.deRegisterDevice", (mac,)


def check(account: dict[str, Any], mac: str) -> tuple[str, tuple[Any, ...]]:
    return "redirect.checkDevice", (mac,)
