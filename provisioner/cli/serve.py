"""``provisioner serve`` (also ``python server.py``): HTTP and TFTP on one event loop."""

from __future__ import annotations

from pathlib import Path

import click
from aiohttp import web

from .. import logs
from ..settings import Settings
from .base import cli


def _port_or_off(value: str) -> int | None:
    if str(value).lower() in ("off", "none", "no", ""):
        return None
    return int(value)


@cli.command("serve")
@click.option("--host", default="0.0.0.0", envvar="PROVISIONER_HOST", show_default=True, show_envvar=True)
@click.option("--http-port", type=int, default=8080, envvar="PROVISIONER_HTTP_PORT", show_default=True,
              show_envvar=True)
@click.option("--tftp-port", default="6969", envvar="PROVISIONER_TFTP_PORT", show_default=True,
              show_envvar=True, help="UDP port for TFTP, or 'off'.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              envvar="PROVISIONER_DATA_DIR", show_default=True, show_envvar=True)
@click.option("--database-url", envvar="PROVISIONER_DATABASE_URL", show_envvar=True,
              help="postgresql://... to share one database between nodes (default: SQLite in --data-dir).")
@click.option("--public-url", envvar="PROVISIONER_PUBLIC_URL", show_envvar=True,
              help="Base URL written into configs so phones come back here, e.g. http://prov.example.net/.")
@click.option("--ntp-server", default="pool.ntp.org", envvar="PROVISIONER_NTP_SERVER", show_default=True,
              show_envvar=True)
@click.option("--session-ttl", type=click.FloatRange(min=0.05, max=24 * 30), default=12.0,
              envvar="PROVISIONER_SESSION_TTL", show_default=True, show_envvar=True,
              help="Hours a console sign-in lasts.")
@click.option("--secure-cookies", type=click.Choice(["auto", "always", "never"]), default="auto",
              envvar="PROVISIONER_SECURE_COOKIES", show_default=True, show_envvar=True,
              help="Mark console cookies Secure: auto = when the request came over HTTPS; 'always' behind a "
                   "TLS-terminating proxy.")
@click.option("--tftp-max-sessions", type=int, default=4096, envvar="PROVISIONER_TFTP_MAX_SESSIONS",
              show_default=True)
@click.option("--admin-token", envvar="PROVISIONER_ADMIN_TOKEN", show_envvar=True,
              help="Bearer token for the admin API (/api/v1); the API is off without one.")
@click.option("--log-level", default="info", envvar="PROVISIONER_LOG_LEVEL", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.option("--log-format", default="json", envvar="PROVISIONER_LOG_FORMAT", show_default=True,
              type=click.Choice(["json", "console"]))
def serve(host: str, http_port: int, tftp_port: str, data_dir: Path, database_url: str | None,
          public_url: str | None, ntp_server: str, tftp_max_sessions: int, admin_token: str | None,
          session_ttl: float, secure_cookies: str, log_level: str, log_format: str) -> None:
    """Serve phones over HTTP and TFTP until SIGTERM or Ctrl-C."""
    from ..web import create_app

    logs.configure(log_level, log_format)
    try:
        tftp = _port_or_off(tftp_port)
    except ValueError:
        raise click.BadParameter(f"{tftp_port!r} is not a port number or 'off'", param_hint="--tftp-port")
    settings = Settings(data_dir=data_dir, database_url=database_url, host=host, http_port=http_port,
                        tftp_port=tftp, public_url=public_url, ntp_server=ntp_server,
                        log_level=log_level, log_format=log_format, tftp_max_sessions=tftp_max_sessions,
                        admin_token=admin_token or None, session_ttl_hours=session_ttl,
                        secure_cookies=secure_cookies)
    web.run_app(create_app(settings), host=host, port=http_port, access_log=None, print=None,
                shutdown_timeout=10)
