"""The scan guard: per-IP failure counts in a sliding window, and bans.

:class:`ScanGuard` counts, per client IP, the requests that prove nothing (an unknown MAC, a
User-Agent naming another MAC, wrong credentials, a wrong or missing path key or device token)
in a sliding window and bans the IP for a while once it has too many. Memory is bounded.
Pure code, no I/O: the resolver calls it with what the cache holds in memory.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import structlog

from .cidr import Network, _within

log = structlog.get_logger("provisioner.access")  # the name fail2ban filters match (README)


@dataclass(frozen=True)
class ScanSettings:
    failures: int = 10  # this many failures ...
    window: float = 600.0  # ... within this many seconds ...
    ban: float = 3600.0  # ... ban the IP for this long
    max_tracked: int = 100_000  # IPs with recent failures kept; the least recently failing go first
    enabled: bool = True
    # Networks never counted nor banned: the provider's own workshop, where technicians boot
    # phones before they are imported.
    exempt: tuple[Network, ...] = ()
    # Unknown-MAC answers, all addresses together: a scan spread over many addresses must slow down.
    # Once this budget (a token bucket: so many per second, so many at once) is spent, addresses
    # with a recent failure are refused everything (403 "slowed"); addresses without (known phones) are not.
    unknown_rate: float = 20.0
    unknown_burst: int = 200


class ScanGuard:
    """Per-IP failure counts in a sliding window, and bans.

    Each tracked IP keeps at most ``failures`` timestamps (a deque), and at most ``max_tracked``
    IPs are tracked (and as many banned): memory stays bounded whatever a scanner sends.
    """

    def __init__(self, settings: ScanSettings | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or ScanSettings()
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._banned: OrderedDict[str, float] = OrderedDict()
        self._unknown_tokens = float(self.settings.unknown_burst)
        self._unknown_at = clock()
        # Bans decided here and not yet shared with the other processes: (ip, seconds, reason).
        self._new_bans: list[tuple[str, float, str]] = []
        self.on_ban: Callable[[], None] | None = None  # told of each new ban (shared_sync writes it at once)

    def _refill(self) -> float:
        s = self.settings
        now = self.clock()
        self._unknown_tokens = min(
            float(s.unknown_burst), self._unknown_tokens + (now - self._unknown_at) * s.unknown_rate
        )
        self._unknown_at = now
        return self._unknown_tokens

    def unknown_answered(self) -> None:
        """One unknown-MAC answer spent from the budget every address shares."""
        if self.settings.enabled:
            self._refill()
            self._unknown_tokens = max(self._unknown_tokens - 1.0, 0.0)

    def slowed(self, ip: str) -> bool:
        """The shared unknown-MAC budget is spent and ``ip`` (its /64 for IPv6) failed lately."""
        if not self.settings.enabled or not self._failures or _bucket(ip) not in self._failures:
            return False
        return self._refill() < 1.0

    def banned(self, ip: str) -> bool:
        if not self._banned:  # the warm path: nobody banned, nothing to work out
            return False
        ip = _bucket(ip)
        until = self._banned.get(ip)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._banned[ip]
        return False

    def failed(self, ip: str, reason: str) -> bool:
        """Count one failure of ``ip``; True when this one got it banned."""
        s = self.settings
        if not s.enabled or not ip or (s.exempt and _within(ip, s.exempt)):
            return False
        ip = _bucket(ip)  # an IPv6 client has a whole /64 to hop within: counted as one
        now = self.clock()
        stamps = self._failures.get(ip)
        if stamps is None:
            if len(self._failures) >= s.max_tracked:
                self._failures.popitem(last=False)
            stamps = self._failures[ip] = deque(maxlen=s.failures)
        else:
            self._failures.move_to_end(ip)
        stamps.append(now)
        if len(stamps) < s.failures or now - stamps[0] > s.window:
            return False
        del self._failures[ip]
        if len(self._banned) >= s.max_tracked:
            self._banned.popitem(last=False)
        self._banned[ip] = now + s.ban
        if len(self._new_bans) < s.max_tracked:
            self._new_bans.append((ip, s.ban, reason))
            if self.on_ban is not None:
                self.on_ban()
        # One stable line per ban, for fail2ban (see README, "Securing provisioning").
        log.warning(
            "phone_ip_banned", ip=ip, failures=s.failures, window_s=int(s.window), ban_s=int(s.ban), last_reason=reason
        )
        return True

    def take_new_bans(self) -> list[tuple[str, float, str]]:
        """The bans made here since the last call, ``(ip, seconds, reason)``, to share with the others."""
        new, self._new_bans = self._new_bans, []
        return new

    def requeue_bans(self, bans: list[tuple[str, float, str]]) -> None:
        """Bans taken by :meth:`take_new_bans` that could not be shared: handed back, first in line."""
        self._new_bans[:0] = bans

    def apply_ban(self, ip: str, seconds: float) -> None:
        """A ban another process made: ``ip`` (already its bucket) gets nothing for ``seconds``."""
        if not self.settings.enabled or seconds <= 0:
            return
        until = self.clock() + seconds
        if self._banned.get(ip, 0.0) >= until:
            return
        if ip not in self._banned and len(self._banned) >= self.settings.max_tracked:
            self._banned.popitem(last=False)
        self._banned[ip] = until
        self._failures.pop(ip, None)

    def unban(self, ip: str) -> None:
        ip = _bucket(ip)
        self._banned.pop(ip, None)
        self._failures.pop(ip, None)

    @property
    def tracked(self) -> int:
        return len(self._failures)

    @property
    def banned_count(self) -> int:
        return len(self._banned)


@lru_cache(maxsize=65536)
def _bucket(ip: str) -> str:
    """What failures are counted against: the IPv4 address, or the /64 of an IPv6 address."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))
