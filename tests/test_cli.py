"""The CLI: thin commands over the services, one clear line and a non-zero exit on error."""

from __future__ import annotations

import asyncio
import json

import pytest

from provisioner.cli import cli


def setup_rossi(run_cli) -> None:
    run_cli(
        "customer",
        "add",
        "ROSSI",
        "--name",
        "Studio Rossi & Associati",
        "--sip-server",
        "pbx.rossi.example.net",
        "--transport",
        "tls",
        "--sip-port",
        "5061",
    )
    run_cli("line", "add", "ROSSI", "201", "--name", "Rossi & Figli <Reception>", "--password", "p9Mrg*+")
    # No --password: asked for, hidden, so it stays out of the shell history.
    run_cli("line", "add", "ROSSI", "202", "--name", "Niccolò Università", "--user", "u202", input="gLSRthV5?FMb9*\n")


def test_first_phone_from_the_command_line(run_cli):
    setup_rossi(run_cli)
    out = run_cli(
        "device",
        "add",
        "00-15-65-A1-B2-C3",
        "--model",
        "t46u",
        "--customer",
        "ROSSI",
        "--line",
        "201",
        "--line",
        "202",
        "--serial",
        "SN123",
    ).output
    assert "device 001565A1B2C3 (yealink T46U) added for ROSSI, lines 201, 202" in out
    shown = json.loads(run_cli("device", "show", "0015.65a1.b2c3", "--json").output)
    assert (shown["mac"], shown["model"], shown["serial"], shown["state"]) == (
        "001565A1B2C3",
        "T46U",
        "SN123",
        "deployed",
    )
    assert shown["customer"] == {"code": "ROSSI", "name": "Studio Rossi & Associati"}
    assert [(ln["extension"], ln["sip_username"]) for ln in shown["lines"]] == [("201", "201"), ("202", "u202")]
    assert "password" not in json.dumps(shown)
    assert [e["action"] for e in shown["history"]] == ["device.created"]
    text = run_cli("device", "show", "001565a1b2c3").output
    assert "account 2: 202 Niccolò Università (user u202)" in text


async def test_device_config_prints_exactly_what_the_phone_gets(server, run_cli, monkeypatch):
    setup_rossi(run_cli)
    run_cli("device", "add", "C074ADA1B2C3", "--model", "GRP2614", "--customer", "ROSSI", "--line", "201")
    monkeypatch.setenv("PROVISIONER_PUBLIC_URL", "http://prov.test:8080/")
    printed = (
        await asyncio.to_thread(run_cli, "device", "config", "c0:74:ad:a1:b2:c3", "cfgc074ada1b2c3.xml")
    ).stdout_bytes
    await server.sync()
    # A customer added from the CLI has a path key: the phone fetches under it (option 66 carries it).
    key = json.loads(run_cli("customer", "security", "ROSSI", "--reveal", "--json").output)["path_key"]
    assert (await server.client.get("/cfgc074ada1b2c3.xml")).status == 403
    fetched = await (await server.client.get(f"/p/{key}/cfgc074ada1b2c3.xml")).read()
    assert printed == fetched
    assert f"http://prov.test:8080/p/{key}/".encode() in printed or f"prov.test:8080/p/{key}".encode() in printed
    assert b"<P34>p9Mrg*+</P34>" in printed and b"Rossi &amp; Figli &lt;Reception&gt;" in printed


@pytest.mark.parametrize(
    "args,message",
    [
        (("device", "show", "00:15:65"), "'00:15:65' is not a MAC address"),
        (("device", "show", "001565000000"), "no device with MAC 001565000000"),
        (("device", "add", "001565000001", "--model", "T99"), "unknown phone model 'T99'"),
        (("device", "add", "001565000001", "--model", "T46U", "--customer", "NOPE"), "no customer 'NOPE'"),
        (("line", "add", "NOPE", "201", "--name", "x", "--password", "y"), "no customer 'NOPE'"),
        (("customer", "add", "BAD CODE", "--name", "x", "--sip-server", "pbx"), "may only hold letters"),
        (
            ("customer", "add", "X", "--name", "x", "--sip-server", "pbx", "--timezone", "Mars/Base"),
            "unknown time zone 'Mars/Base'",
        ),
        (("device", "config", "001565000001", "001565000002.cfg"), "is not a file of 001565000001"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(store, run_cli, args, message):
    # (``store``: the database exists, so no command adds its "new database at" line.)
    result = run_cli(*args, ok=False)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().count("\n") == 0
    assert "Traceback" not in result.output


def test_password_is_not_echoed_on_error(run_cli):
    setup_rossi(run_cli)
    result = run_cli("line", "add", "ROSSI", "203", "--name", "x", input="bad\x07secret-XYZ\n", ok=False)
    assert result.exit_code == 1 and "secret-XYZ" not in result.output


def test_device_set_overrides_and_config_shows_them(run_cli):
    setup_rossi(run_cli)
    run_cli("device", "add", "001565A1B2C4", "--model", "T46U", "--customer", "ROSSI", "--line", "201")
    run_cli("device", "set", "001565a1b2c4", "language=en", "features.dnd.enable=1")
    body = run_cli("device", "config", "001565a1b2c4", "001565a1b2c4.cfg").output
    assert "lang.gui = English" in body and body.rstrip().endswith("features.dnd.enable = 1")
    bad = run_cli("device", "set", "001565a1b2c4", "novalue", ok=False)
    assert bad.exit_code == 2 and "is not KEY=VALUE" in bad.output


def test_every_command_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = []
    for group_name, group in cli.commands.items():
        subcommands = getattr(group, "commands", None)
        names = [f"{group_name} {sub}" for sub in subcommands] if subcommands else [group_name]
        missing += [name for name in names if f"provisioner {name}" not in readme]
    assert missing == []
