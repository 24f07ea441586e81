"""Firmware images and targets from the command line (the phone-facing part is not built yet)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from provisioner import services
from tests.conftest import ACTOR, add_customer

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_add_list_target_and_report(run_cli, store, data_dir, tmp_path):
    add_customer(store)
    image = tmp_path / "T46U-108.86.0.30.rom"
    payload = bytes(range(256)) * 4096 + b"tail"
    image.write_bytes(payload)
    out = run_cli(
        "firmware", "add", str(image), "--vendor", "yealink", "--model", "t46u,SIP-T48U", "--version", "108.86.0.30"
    ).output
    assert hashlib.sha256(payload).hexdigest() in out
    stored = data_dir / "firmware" / "yealink" / "108.86.0.30" / image.name
    assert stored.read_bytes() == payload
    assert [p.name for p in stored.parent.iterdir()] == [image.name]  # no temporary file left

    listed = json.loads(run_cli("firmware", "list", "--json").output)
    assert [(i["vendor"], i["models"], i["version"], i["size"]) for i in listed["images"]] == [
        ("yealink", "T46U,T48U", "108.86.0.30", len(payload))
    ]

    run_cli("firmware", "target", "--model", "T46U", "--version", "108.86.0.30")
    run_cli("firmware", "target", "--model", "T48U", "--version", "108.86.0.30", "--customer", "ROSSI")
    targets = json.loads(run_cli("firmware", "list", "--json").output)["targets"]
    assert sorted((t["model"], t["version"], t["customer"]) for t in targets) == [
        ("T46U", "108.86.0.30", None),
        ("T48U", "108.86.0.30", "ROSSI"),
    ]

    services.add_device(store, ACTOR, "001565A1B2C3", model="T46U", customer="ROSSI")
    services.add_device(store, ACTOR, "001565A1B2C4", model="T46U", customer="ROSSI")
    services.add_device(store, ACTOR, "001565A1B2C5", model="T46U")
    with store.transaction() as tx:
        tx.record_activity(
            [
                (NOW, "10.0.0.2", "Yealink SIP-T46U 108.86.0.20", "108.86.0.20", "001565A1B2C3"),
                (NOW, "10.0.0.3", "Yealink SIP-T46U 108.86.0.20", "108.86.0.20", "001565A1B2C4"),
            ],
            [],
        )
    report = json.loads(run_cli("devices", "firmware", "--json").output)
    assert [(r["model"], r["firmware"], r["count"]) for r in report] == [("T46U", "108.86.0.20", 2), ("T46U", None, 1)]
    assert [(r["target"], r["due"]) for r in report] == [("108.86.0.30", 2), ("108.86.0.30", 0)]
    text = run_cli("devices", "firmware", "--customer", "ROSSI").output
    assert "108.86.0.20" in text and "(not seen yet)" not in text and "target 108.86.0.30, 2 due" in text


def test_bad_input_is_named_and_changes_nothing(run_cli, store, data_dir, tmp_path):
    add_customer(store)
    image = tmp_path / "fw.rom"
    image.write_bytes(b"x" * 2048)
    result = run_cli(
        "firmware",
        "add",
        str(image),
        "--vendor",
        "yealink",
        "--model",
        "T46U",
        "--version",
        "1.0",
        "--firmware-max-bytes",
        "1024",
        ok=False,
    )
    assert result.exit_code == 1 and "over the 1,024-byte limit" in result.output
    result = run_cli(
        "firmware", "add", str(image), "--vendor", "yealink", "--model", "VVX450", "--version", "1.0", ok=False
    )
    assert "'VVX450' is not a yealink model" in result.output
    result = run_cli("firmware", "add", str(image), "--vendor", "nokia", "--model", "X", "--version", "1.0", ok=False)
    assert "unknown vendor 'nokia'" in result.output
    result = run_cli(
        "firmware", "add", str(image), "--vendor", "yealink", "--model", "T46U", "--version", "../x", ok=False
    )
    assert "version '../x'" in result.output
    result = run_cli("firmware", "target", "--model", "T46U", "--version", "9.9", ok=False)
    assert "no yealink image of version 9.9 for T46U" in result.output
    assert not (data_dir / "firmware").exists() or not any((data_dir / "firmware").rglob("*.rom"))
    assert json.loads(run_cli("firmware", "list", "--json").output) == {"images": [], "targets": []}
