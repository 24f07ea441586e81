"""New customers get a secret path key unless the operator says --path-key none (CLI, API, imports),
and the shared unknown-MAC budget is a server setting. Against the real server."""

from __future__ import annotations

import asyncio
import json

from provisioner import keys
from tests.conftest import key_path
from tests.test_phone_security import session

YEALINK_UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"


async def test_a_customer_added_from_the_cli_has_a_path_key_its_phones_fetch_under(server, store, run_cli):
    out = run_cli(
        "customer",
        "add",
        "ROSSI",
        "--name",
        "Rossi",
        "--sip-server",
        "pbx.rossi.example.net",
        "--public-url",
        "http://prov.example.net/",
    ).output
    key = json.loads(run_cli("customer", "security", "ROSSI", "--reveal", "--json").output)["path_key"]
    assert f"path key: {key}" in out and f"http://prov.example.net/p/{key}/" in out
    run_cli("line", "add", "ROSSI", "201", "--name", "Reception", "--password", "s3cret-201")
    run_cli("device", "add", "001565A1B2C3", "--model", "T46U", "--customer", "ROSSI", "--line", "201")
    assert key_path(store, "001565A1B2C3") == f"p/{key}/"
    await server.sync()
    base = f"http://127.0.0.1:{server.http_port}"
    async with session("127.0.0.2") as phone:
        resp = await phone.get(f"{base}/p/{key}/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
        assert resp.status == 200 and b"s3cret-201" in await resp.read()
        # The provisioning URL in the config keeps the key: the phone comes back under it.
        resp = await phone.get(f"{base}/p/{key}/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
        assert b"p/" + key.encode() in await resp.read()
    guard = server.app[keys.RESOLVER].guard
    async with session("127.0.0.3") as stranger:
        for path in ("001565a1b2c3.cfg", f"p/{'A' * 22}/001565a1b2c3.cfg"):
            resp = await stranger.get(f"{base}/{path}", headers={"User-Agent": YEALINK_UA})
            assert resp.status == 403 and b"s3cret-201" not in await resp.read()
    assert guard.tracked == 1  # both refusals counted against the stranger's address
    assert not guard.banned("127.0.0.2") and "127.0.0.2" not in guard._failures


def test_path_key_none_when_the_operator_says_so(store, run_cli):
    out = run_cli(
        "customer", "add", "PLAIN", "--name", "Plain", "--sip-server", "pbx.example.net", "--path-key", "none"
    ).output
    assert "no path key" in out
    shown = json.loads(run_cli("customer", "show", "PLAIN", "--json").output)["security"]
    assert shown["path_key_set"] is False and shown["warnings"][0].startswith("no rule")
    bad = run_cli(
        "customer", "add", "BAD", "--name", "B", "--sip-server", "pbx.example.net", "--path-key", "old", ok=False
    )
    assert bad.exit_code == 2 and "--path-key" in bad.output
    assert "BAD" not in run_cli("customer", "list").output


async def test_a_customer_an_import_creates_has_a_path_key(server, store, run_cli, tmp_path):
    sheet = tmp_path / "phones.csv"
    sheet.write_text(
        "MAC,Model,Customer,SIP server,Line,Extension,Name,SIP password\n"
        "00:15:65:A1:B2:C3,T46U,NUOVO,pbx.nuovo.test,1,3001,Anna,pw-anna-3001\n"
    )
    await asyncio.to_thread(run_cli, "import", str(sheet))
    shown = json.loads(run_cli("customer", "security", "NUOVO", "--reveal", "--json").output)
    assert shown["path_key_set"] and key_path(store, "001565A1B2C3") == f"p/{shown['path_key']}/"
    await server.sync()
    assert (await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})).status == 403
    resp = await server.client.get(f"/p/{shown['path_key']}/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
    assert resp.status == 200 and b"pw-anna-3001" in await resp.read()


async def test_the_unknown_mac_budget_is_a_server_setting(aiohttp_client, settings):
    from provisioner.web import create_app

    app = create_app(settings.__class__(**{**settings.__dict__, "scan_unknown_rate": 0.001, "scan_unknown_burst": 3}))
    client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
    guard = app[keys.RESOLVER].guard
    assert (guard.settings.unknown_rate, guard.settings.unknown_burst) == (0.001, 3)
    base = f"http://127.0.0.1:{client.server.port}"
    statuses = []
    for i, ip in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.2")):
        async with session(ip) as scanner:
            statuses.append((await scanner.get(f"{base}/001565{i:06X}.cfg")).status)
    # Three unknown answers spend the budget; then a scanning address with a failure is slowed.
    assert statuses == [404, 404, 404, 404, 403]
