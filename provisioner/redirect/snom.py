"""Snom's legacy redirection service: XML-RPC with Basic auth.

``redirect.registerPhone(mac, url)``, ``redirect.deregisterPhone(mac)``,
``redirect.checkPhone(mac)``; each answers ``[success, message]``. Snom's newer SRAPS REST API
(Hawk-authenticated) is not supported yet.
"""

from __future__ import annotations

from typing import Any

NAME = "Snom redirection (XML-RPC)"
DEFAULT_RPC_URL = "https://secure-provisioning.snom.com:8083/xmlrpc/"


def register(account: dict[str, Any], mac: str, url: str) -> tuple[str, tuple[Any, ...]]:
    return "redirect.registerPhone", (mac, url)


def deregister(account: dict[str, Any], mac: str) -> tuple[str, tuple[Any, ...]]:
    return "redirect.deregisterPhone", (mac,)


def check(account: dict[str, Any], mac: str) -> tuple[str, tuple[Any, ...]]:
    return "redirect.checkPhone", (mac,)
