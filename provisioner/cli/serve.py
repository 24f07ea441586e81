"""``provisioner serve`` (also ``python server.py``): HTTP and TFTP on one event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import structlog

from .. import access, logs, supervisor
from ..settings import Settings
from .base import cli, database_options


def _port_or_off(value: str) -> int | None:
    if str(value).lower() in ("off", "none", "no", ""):
        return None
    return int(value)


@cli.command("serve")
@click.option("--host", default="0.0.0.0", envvar="PROVISIONER_HOST", show_default=True, show_envvar=True)
@click.option(
    "--http-port",
    default="8080",
    envvar="PROVISIONER_HTTP_PORT",
    show_default=True,
    show_envvar=True,
    help="TCP port for plain HTTP, or 'off' (0 too).",
)
@click.option(
    "--https-port",
    default="off",
    envvar="PROVISIONER_HTTPS_PORT",
    show_default=True,
    show_envvar=True,
    help="TCP port for HTTPS (needs --tls-cert and --tls-key), or 'off'. With it, configs carry https:// URLs.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="PROVISIONER_TLS_CERT",
    show_envvar=True,
    help="PEM certificate chain for HTTPS.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="PROVISIONER_TLS_KEY",
    show_envvar=True,
    help="PEM private key for HTTPS.",
)
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="PROVISIONER_CLIENT_CA",
    show_envvar=True,
    help="PEM bundle of the phone vendors' device CAs: over HTTPS a phone's factory certificate naming "
    "its MAC proves it during its first-contact window (asked for, not required).",
)
@click.option(
    "--scan-failures",
    type=int,
    default=10,
    envvar="PROVISIONER_SCAN_FAILURES",
    show_default=True,
    show_envvar=True,
    help="Failed phone requests from one IP that ban it (0: scan defence off).",
)
@click.option(
    "--scan-window",
    type=float,
    default=600,
    envvar="PROVISIONER_SCAN_WINDOW",
    show_default=True,
    show_envvar=True,
    help="... counted over this many seconds.",
)
@click.option(
    "--scan-ban",
    type=float,
    default=3600,
    envvar="PROVISIONER_SCAN_BAN",
    show_default=True,
    show_envvar=True,
    help="Seconds a banned IP gets nothing.",
)
@click.option(
    "--scan-exempt",
    default="",
    envvar="PROVISIONER_SCAN_EXEMPT",
    show_envvar=True,
    help="Networks never counted nor banned, e.g. your workshop: '192.0.2.0/24,2001:db8::/48'.",
)
@click.option(
    "--redirect-rate",
    type=click.FloatRange(min=0.01),
    default=5.0,
    envvar="PROVISIONER_REDIRECT_RATE",
    show_default=True,
    show_envvar=True,
    help="Calls a second to each vendor's redirect service.",
)
@click.option(
    "--scan-unknown-rate",
    type=float,
    default=20.0,
    envvar="PROVISIONER_SCAN_UNKNOWN_RATE",
    show_default=True,
    show_envvar=True,
    help="Unknown-MAC answers a second, all addresses together; beyond it addresses with recent "
    "failures are refused ('slowed').",
)
@click.option(
    "--scan-unknown-burst",
    type=int,
    default=200,
    envvar="PROVISIONER_SCAN_UNKNOWN_BURST",
    show_default=True,
    show_envvar=True,
    help="... and this many at once.",
)
@click.option(
    "--tftp-port",
    default="6969",
    envvar="PROVISIONER_TFTP_PORT",
    show_default=True,
    show_envvar=True,
    help="UDP port for TFTP, or 'off'.",
)
@database_options
@click.option(
    "--public-url",
    envvar="PROVISIONER_PUBLIC_URL",
    show_envvar=True,
    help="Base URL written into configs so phones come back here, e.g. http://prov.example.net/.",
)
@click.option(
    "--ntp-server", default="pool.ntp.org", envvar="PROVISIONER_NTP_SERVER", show_default=True, show_envvar=True
)
@click.option(
    "--session-ttl",
    type=click.FloatRange(min=0.05, max=24 * 30),
    default=12.0,
    envvar="PROVISIONER_SESSION_TTL",
    show_default=True,
    show_envvar=True,
    help="Hours a console sign-in lasts.",
)
@click.option(
    "--secure-cookies",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    envvar="PROVISIONER_SECURE_COOKIES",
    show_default=True,
    show_envvar=True,
    help="Mark console cookies Secure: auto = when the request came over HTTPS; 'always' behind a "
    "TLS-terminating proxy.",
)
@click.option("--tftp-max-sessions", type=int, default=4096, envvar="PROVISIONER_TFTP_MAX_SESSIONS", show_default=True)
@click.option(
    "--http-head-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    envvar="PROVISIONER_HTTP_HEAD_TIMEOUT",
    show_default=True,
    show_envvar=True,
    help="Seconds an HTTP connection may take to send a complete request head (and may stay idle).",
)
@click.option(
    "--http-max-connections-per-ip",
    type=click.IntRange(min=1),
    default=64,
    envvar="PROVISIONER_HTTP_MAX_CONNECTIONS_PER_IP",
    show_default=True,
    show_envvar=True,
    help="Open HTTP connections one client address may hold (a NAT'd office shares one).",
)
@click.option(
    "--tftp-max-unacked-per-ip",
    type=click.IntRange(min=1),
    default=16,
    envvar="PROVISIONER_TFTP_MAX_UNACKED_PER_IP",
    show_default=True,
    show_envvar=True,
    help="TFTP transfers per client address not acknowledged yet; more are dropped (amplification).",
)
@click.option(
    "--pnp",
    type=click.Choice(["on", "off"]),
    default="on",
    envvar="PROVISIONER_PNP",
    show_default=True,
    show_envvar=True,
    help="Answer SIP plug-and-play SUBSCRIBEs (UDP, multicast 224.0.1.75) with the URL.",
)
@click.option(
    "--pnp-port",
    type=click.IntRange(1, 65535),
    default=5060,
    envvar="PROVISIONER_PNP_PORT",
    show_default=True,
    show_envvar=True,
    help="UDP port of the plug-and-play responder.",
)
@click.option(
    "--mdns",
    type=click.Choice(["on", "off"]),
    default="on",
    envvar="PROVISIONER_MDNS",
    show_default=True,
    show_envvar=True,
    help="Advertise the provisioning URL by mDNS/DNS-SD on the LAN.",
)
@click.option(
    "--resync-after-change",
    type=click.Choice(["on", "off"]),
    default="off",
    envvar="PROVISIONER_RESYNC_AFTER_CHANGE",
    show_default=True,
    show_envvar=True,
    help="NOTIFY the phones a committed change concerns (customers may override: customer update).",
)
@click.option(
    "--resync-port",
    type=click.IntRange(1, 65535),
    default=5060,
    envvar="PROVISIONER_RESYNC_PORT",
    show_default=True,
    show_envvar=True,
    help="The phones' SIP port for those NOTIFYs.",
)
@click.option(
    "--phonebook-refresh",
    type=click.IntRange(min=60, max=7 * 86400),
    default=3600,
    envvar="PROVISIONER_PHONEBOOK_REFRESH",
    show_default=True,
    show_envvar=True,
    help="Seconds between a phone's fetches of its phonebook (written into each config).",
)
@click.option(
    "--activity-resolution",
    type=click.FloatRange(min=0, max=3600),
    default=60.0,
    envvar="PROVISIONER_ACTIVITY_RESOLUTION",
    show_default=True,
    show_envvar=True,
    help="Seconds: unchanged last seen written at most this often; repeats within it one row (0: every fetch).",
)
@click.option(
    "--firmware-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PROVISIONER_FIRMWARE_DIR",
    show_envvar=True,
    help="Where firmware images are kept (default: firmware/ in the data dir).",
)
@click.option(
    "--firmware-max-concurrent",
    type=click.IntRange(min=1),
    default=2,
    envvar="PROVISIONER_FIRMWARE_MAX_CONCURRENT",
    show_default=True,
    show_envvar=True,
    help="Phones of one customer told to upgrade at once (per server node).",
)
@click.option(
    "--firmware-slot-timeout",
    type=click.IntRange(min=60),
    default=1800,
    envvar="PROVISIONER_FIRMWARE_SLOT_TIMEOUT",
    show_default=True,
    show_envvar=True,
    help="Seconds after which a phone that has not reported its target version frees its slot.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=256),
    default=None,
    envvar="PROVISIONER_WORKERS",
    show_envvar=True,
    help="Server processes sharing the ports and the database (default: one per core).",
)
@click.option(
    "--cache-max-bytes",
    default="512M",
    envvar="PROVISIONER_CACHE_MAX_BYTES",
    show_default=True,
    show_envvar=True,
    help="Bound of the rendered-config cache (K, M, G suffixes); past it the least recently asked "
    "devices are dropped and rendered again when asked. About 8 KB per device: see README Performance.",
)
@click.option(
    "--prewarm",
    type=click.Choice(["on", "off"]),
    default="on",
    envvar="PROVISIONER_PREWARM",
    show_default=True,
    show_envvar=True,
    help="Render every device's files at start and after a large import, before phones ask.",
)
@click.option(
    "--log-level",
    default="info",
    envvar="PROVISIONER_LOG_LEVEL",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
@click.option(
    "--log-format",
    default="json",
    envvar="PROVISIONER_LOG_FORMAT",
    show_default=True,
    type=click.Choice(["json", "console"]),
)
def serve(
    host: str,
    http_port: str,
    https_port: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
    scan_unknown_rate: float,
    scan_unknown_burst: int,
    scan_failures: int,
    scan_window: float,
    scan_ban: float,
    scan_exempt: str,
    tftp_port: str,
    data_dir: Path,
    database_url: str | None,
    public_url: str | None,
    ntp_server: str,
    tftp_max_sessions: int,
    session_ttl: float,
    secure_cookies: str,
    http_head_timeout: float,
    http_max_connections_per_ip: int,
    tftp_max_unacked_per_ip: int,
    log_level: str,
    log_format: str,
    redirect_rate: float,
    pnp: str = "on",
    pnp_port: int = 5060,
    mdns: str = "on",
    resync_after_change: str = "off",
    resync_port: int = 5060,
    phonebook_refresh: int = 3600,
    activity_resolution: float = 60.0,
    firmware_dir: Path | None = None,
    firmware_max_concurrent: int = 2,
    firmware_slot_timeout: int = 1800,
    workers: int | None = None,
    cache_max_bytes: str = "512M",
    prewarm: str = "on",
) -> None:
    """Serve phones over HTTP(S) and TFTP until SIGTERM or Ctrl-C."""
    from .. import http_server
    from ..web import create_app, tls_context

    logs.configure(log_level, log_format)
    tftp = _port(tftp_port, "--tftp-port")
    http = _port(http_port, "--http-port", zero_is_off=True)
    https = _port(https_port, "--https-port", zero_is_off=True)
    if https is not None and not (tls_cert and tls_key):
        raise click.UsageError("--https-port needs --tls-cert and --tls-key (PEM files)")
    if client_ca is not None and https is None:
        raise click.UsageError("--client-ca needs --https-port: client certificates come over TLS only")
    if scan_unknown_rate <= 0 or scan_unknown_burst < 1:
        raise click.UsageError("--scan-unknown-rate must be positive and --scan-unknown-burst 1 or more")
    if http is None and https is None:
        raise click.UsageError("both --http-port and --https-port are off: phones could not fetch anything")
    if scan_failures < 0 or scan_window <= 0 or scan_ban < 0:
        raise click.UsageError("--scan-failures must be 0 or more, --scan-window and --scan-ban positive")
    try:
        access.networks(scan_exempt)
    except ValueError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint="--scan-exempt") from None
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        host=host,
        http_port=http,
        tftp_port=tftp,
        public_url=public_url,
        ntp_server=ntp_server,
        log_level=log_level,
        log_format=log_format,
        tftp_max_sessions=tftp_max_sessions,
        scan_failures=scan_failures,
        scan_window=scan_window,
        scan_ban=scan_ban,
        scan_exempt=scan_exempt,
        https_port=https,
        tls_cert=tls_cert,
        tls_key=tls_key,
        session_ttl_hours=session_ttl,
        secure_cookies=secure_cookies,
        http_head_timeout=http_head_timeout,
        http_max_connections_per_ip=http_max_connections_per_ip,
        tftp_max_unacked_per_ip=tftp_max_unacked_per_ip,
        redirect_rate=redirect_rate,
        pnp=pnp == "on",
        pnp_port=pnp_port,
        mdns=mdns == "on",
        resync_after_change=resync_after_change == "on",
        resync_port=resync_port,
        client_ca=client_ca,
        scan_unknown_rate=scan_unknown_rate,
        scan_unknown_burst=scan_unknown_burst,
        phonebook_refresh=phonebook_refresh,
        activity_resolution=activity_resolution,
        firmware_dir=firmware_dir,
        firmware_max_concurrent=firmware_max_concurrent,
        firmware_slot_timeout=float(firmware_slot_timeout),
        cache_max_bytes=_bytes(cache_max_bytes, "--cache-max-bytes"),
        prewarm=prewarm == "on",
    )
    try:
        ssl_context = tls_context(settings) if https is not None else None
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise click.UsageError(f"cannot load --tls-cert/--tls-key/--client-ca: {exc}") from None
    count = workers or supervisor.default_workers()
    if count > 1:
        raise SystemExit(_supervise(settings, count))
    asyncio.run(http_server.run(create_app(settings), settings, ssl_context))


def _supervise(settings: Settings, count: int) -> int:
    """``--workers`` over 1: migrate once here, then the workers (:mod:`provisioner.supervisor`)."""
    from .. import lifecycle

    try:  # a database not reachable yet is waited for, as with one process ("When the database is down")
        asyncio.run(lifecycle._open_store(settings)).close()
    except Exception as exc:
        structlog.get_logger("provisioner").error("database_cannot_open", error=type(exc).__name__)
        first_line = (str(exc).splitlines() or [""])[0][:200]  # a driver's detail may quote statement values
        raise click.ClickException(f"cannot open or migrate the database: {type(exc).__name__}: {first_line}") from None
    return supervisor.serve(settings, count)


def _bytes(value: str, name: str) -> int:
    """``512M``, ``2G``, ``65536``: a size in bytes (1 MiB at least)."""
    text = value.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) * scale < 1 << 20:
        raise click.BadParameter(f"{value!r} is not a size of 1M or more (e.g. 512M, 2G)", param_hint=name)
    return int(digits) * scale


def _port(value: str, name: str, *, zero_is_off: bool = False) -> int | None:
    try:
        port = _port_or_off(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a port number or 'off'", param_hint=name) from None
    if port is not None and not 0 <= port <= 65535:
        raise click.BadParameter(f"{port} is not a port number", param_hint=name)
    return None if zero_is_off and port == 0 else port
