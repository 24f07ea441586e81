"""Who may have a phone's file: the checks a request must pass before it gets credentials.

Pure code, no I/O: the resolver calls it with what the cache holds in memory. One concern per
module:

- :mod:`.scan_guard`: per-IP failure counts and bans (:class:`ScanGuard`), and the shared
  unknown-MAC budget that slows a scan spread over many addresses.
- :mod:`.policy`: one customer's rules (:class:`Policy`), a device's token and first-contact
  window (:class:`DeviceAccess`), the provisioning URL written into its files, the MACs a client
  certificate proves.
- :mod:`.digest`: HTTP Digest (RFC 7616) challenges and checks, Basic over HTTPS only.
- :mod:`.cidr`: IP networks typed by an operator, and address tests against them.

The names below are the package's interface, as ``provisioner.vendors`` exposes its ``base``.
"""

from __future__ import annotations

from .cidr import Network, networks, parse_networks
from .digest import REALM, Digest, Verdict, parse_params, same
from .policy import (
    AUTH_MODES,
    KEY_BYTES,
    DeviceAccess,
    Policy,
    certificate_macs,
    device_token,
    device_url,
    new_secret,
    provisioning_url,
    valid_secret,
    window_end,
)
from .scan_guard import ScanGuard, ScanSettings

__all__ = [
    "AUTH_MODES",
    "KEY_BYTES",
    "REALM",
    "DeviceAccess",
    "Digest",
    "Network",
    "Policy",
    "ScanGuard",
    "ScanSettings",
    "Verdict",
    "certificate_macs",
    "device_token",
    "device_url",
    "networks",
    "new_secret",
    "parse_networks",
    "parse_params",
    "provisioning_url",
    "same",
    "valid_secret",
    "window_end",
]
