"""Server settings: flags win over environment variables (``PROVISIONER_*``),
which win over the defaults. No default holds a secret."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None  # None: SQLite in data_dir
    host: str = "0.0.0.0"
    http_port: int | None = 8080  # None: no plain HTTP
    tftp_port: int | None = 6969  # None: TFTP off
    # The URL written into configs so phones keep coming back; derived when not given.
    public_url: str | None = None
    ntp_server: str = "pool.ntp.org"
    log_level: str = "info"
    log_format: str = "json"  # json | console
    session_ttl_hours: float = 12.0  # how long a console sign-in lasts
    secure_cookies: str = "auto"  # console cookies Secure: auto (when the request is HTTPS) | always | never
    tftp_max_sessions: int = 4096
    upload_max_bytes: int = 1024 * 1024  # per phone upload (Polycom logs and overrides)
    sync_interval: float = 0.5  # seconds between checks for changes made elsewhere
    flush_interval: float = 1.0  # seconds between writes of last-seen, downloads, unknown devices
    # Seconds: an unchanged last seen is written at most this often per device, and repeats of one
    # download within it are one row with a count (provisioner.activity); 0: every fetch written.
    activity_resolution: float = 60.0
    # Scan defence: this many failed phone requests from one IP within scan_window seconds ban it
    # for scan_ban seconds (0 failures: off).
    scan_failures: int = 10
    scan_window: float = 600.0
    scan_ban: float = 3600.0
    scan_exempt: str = ""  # CIDRs never counted nor banned (the provider's own workshop)
    # HTTPS for phones: a port and a certificate chain and key (PEM); None: no HTTPS.
    https_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Abusive clients: an HTTP connection must send a complete request head within this many
    # seconds (and is closed when idle that long); at most this many connections per client IP.
    http_head_timeout: float = 10.0
    http_max_connections_per_ip: int = 64
    # TFTP transfers per client IP whose first packet is not acknowledged yet (amplification).
    tftp_max_unacked_per_ip: int = 16
    # Vendor redirect services (provisioner.redirect): calls per second per vendor account, how often
    # the outbox is looked at, the first retry's delay (doubling up to the cap), when to give up.
    redirect_rate: float = 5.0
    redirect_poll: float = 1.0
    redirect_backoff: float = 5.0
    redirect_backoff_cap: float = 900.0
    redirect_max_attempts: int = 12
    redirect_timeout: float = 15.0
    # SIP plug-and-play responder (UDP; joins 224.0.1.75 when bound to every address). Off unless
    # asked: ``serve`` turns it on (--pnp on), the tests and library users choose.
    pnp: bool = False
    pnp_port: int = 5060
    # mDNS / DNS-SD advertisement of the provisioning URL (``serve``: --mdns on).
    mdns: bool = False
    mdns_interfaces: tuple[str, ...] | None = None  # None: every interface
    # After a committed change, NOTIFY the phones it concerns (customers may override it), paced at
    # resync_rate phones a second, to their SIP port resync_port.
    resync_after_change: bool = False
    resync_port: int = 5060
    resync_rate: float = 10.0
    # HTTPS: a PEM bundle of the phone vendors' device CAs; a phone's verified factory certificate
    # naming its MAC proves it during its first-contact window. None: no client certificate asked.
    client_ca: Path | None = None
    # Unknown-MAC answers, all client addresses together: so many a second, so many at once.
    scan_unknown_rate: float = 20.0
    scan_unknown_burst: int = 200
    # Seconds between a phone's fetches of its phonebook (written into every config).
    phonebook_refresh: int = 3600
    # Firmware: where images are kept (None: firmware/ in the data dir), how many phones of one
    # customer are told to upgrade at once, and after how many seconds a slot is given back.
    firmware_dir: Path | None = None
    firmware_max_concurrent: int = 2
    firmware_slot_timeout: float = 1800.0

    @property
    def firmware_folder(self) -> Path:
        return self.firmware_dir if self.firmware_dir is not None else self.data_dir / "firmware"

    # serve --workers N: which worker this process is. Jobs that must run once (the PnP responder,
    # mDNS, the NOTIFY after a change) run in worker 0 only.
    worker: int = 0
    reuse_port: bool = False  # bind HTTP(S) and TFTP with SO_REUSEPORT (the workers share the ports)
    # PostgreSQL: LISTEN for the other nodes' changes (sync at once); polling stays as the fallback.
    pg_listen: bool = True
    # The config cache's bound (rendered files + per-device overhead), and whether every device's
    # files are rendered at start and after a large import, before phones ask.
    cache_max_bytes: int = 512 * 1024 * 1024
    prewarm: bool = True

    @property
    def templates_dir(self) -> Path:
        """The deployment's template overrides, searched before the shipped ones."""
        return self.data_dir / "templates"

    @property
    def provisioning_url(self) -> str:
        if self.public_url:
            return self.public_url if self.public_url.endswith("/") else self.public_url + "/"
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = _primary_address()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        if self.https_port is not None or self.http_port is None:
            return f"https://{host}:{self.https_port}/"
        return f"http://{host}:{self.http_port}/"


def _primary_address() -> str:
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return address
