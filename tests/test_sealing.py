"""Secrets at rest: no plaintext password in the database file (or its WAL), the key file, the
migration that seals rows written before it, key rotation and a wrong key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from provisioner import security_services, services
from provisioner.db import Store, lines
from provisioner.sealing import ENV, KEY_FILE, Sealer, SealError, generate_key
from tests.conftest import ACTOR, add_customer, add_line

PASSWORDS = ("Xq7!plaintext-SIP-one", "Zr9?plaintext-SIP-two", "Kk3#third-Secret-line")


def db_bytes(data_dir: Path) -> bytes:
    """The database file and its WAL and shared-memory files, as a thief copying them gets them."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("provisioner.sqlite3*")))


def test_no_plaintext_password_in_the_database_file(store, data_dir):
    add_customer(store)
    for n, password in enumerate(PASSWORDS):
        add_line(store, "ROSSI", str(200 + n), f"Desk {n}", password)
    services.add_device(store, ACTOR, "001565A1B2C3", model="T46U", customer="ROSSI", lines=["200", "201"])
    made = security_services.set_customer_security(store, ACTOR, "ROSSI", auth="digest", path_key="new")
    prov_password, path_key = made["new_secrets"]["password"], made["new_secrets"]["path_key"]
    services.update_line(store, ACTOR, "ROSSI", "202", password=PASSWORDS[2] + "-changed")

    raw = db_bytes(data_dir)
    assert raw  # the file and its WAL are there
    for secret in (*PASSWORDS, PASSWORDS[2] + "-changed", prov_password, path_key):
        assert secret.encode() not in raw, "a secret is stored in plaintext"
    # Everyone above the store still sees plaintext.
    with store.reading() as tx:
        customer = tx.customer_by_code("ROSSI")
        assert [r["password"] for r in tx.lines_of_customer(customer["id"])] == [
            PASSWORDS[0],
            PASSWORDS[1],
            PASSWORDS[2] + "-changed",
        ]
        assert tx.customer_security(customer["id"])["password"] == prov_password
    # The key file is the owner's alone.
    key_file = data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_migration_seals_passwords_written_before_it(data_dir):
    from alembic import command
    from alembic.config import Config

    from provisioner.db import MIGRATIONS

    store = Store.open(data_dir, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.exec_driver_sql(
            "INSERT INTO customers (code, name, sip_server, created_at, updated_at) "
            "VALUES ('OLD', 'Old', 'pbx.example.net', '2026-01-01', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO lines (customer_id, extension, display_name, sip_username, auth_id, "
            "password, created_at, updated_at) VALUES (1, '10', 'Ten', '10', '10', "
            f"'{PASSWORDS[0]}', '2026-01-01', '2026-01-01')"
        )
    store.migrate()
    store.check_key()
    store.close()
    assert PASSWORDS[0].encode() not in db_bytes(data_dir)
    store = Store.open(data_dir)
    with store.reading() as tx:
        assert tx.line(1, "10")["password"] == PASSWORDS[0]
        raw = tx.conn.execute(sa.select(sa.cast(lines.c.password, sa.Text))).scalar_one()
    assert raw != PASSWORDS[0] and raw.startswith("g1.")  # sealed with AES-256-GCM
    store.close()
    # And back: downgrading below 0003 (every later downgrade on the way) opens them again.
    store = Store.open(data_dir, migrate=False)
    with store.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["sealer"] = store.sealer
        command.downgrade(cfg, "0002")
        assert conn.exec_driver_sql("SELECT password FROM lines").scalar_one() == PASSWORDS[0]
    store.close()


def test_rotate_reseals_every_secret_and_drops_the_old_key(store, data_dir, run_cli):
    add_customer(store)
    add_line(store, "ROSSI", "200", "Desk", PASSWORDS[0])
    security_services.set_customer_security(store, ACTOR, "ROSSI", auth="digest")
    old_key = (data_dir / KEY_FILE).read_text().strip()
    with store.reading() as tx:
        before = tx.conn.execute(sa.select(sa.cast(lines.c.password, sa.Text))).scalar_one()
    assert Sealer([old_key.encode()]).open(before) == PASSWORDS[0]  # sealed under the old key

    out = run_cli("secrets", "rotate").output
    assert "sealed values re-sealed" in out
    new_key = (data_dir / KEY_FILE).read_text().strip()
    assert new_key != old_key and "\n" not in new_key  # only the new key is kept
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    reopened = Store.open(data_dir)
    with reopened.reading() as tx:
        after = tx.conn.execute(sa.select(sa.cast(lines.c.password, sa.Text))).scalar_one()
        assert tx.line(tx.customer_by_code("ROSSI")["id"], "200")["password"] == PASSWORDS[0]
    reopened.close()
    assert after.split(".")[1] != before.split(".")[1]  # another key id
    with pytest.raises(SealError):
        Sealer([old_key.encode()]).open(after)
    # A store opened before the rotation reads the new key file when it meets a value it cannot open.
    with store.reading() as tx:
        assert tx.line(tx.customer_by_code("ROSSI")["id"], "200")["password"] == PASSWORDS[0]


def test_rotate_with_the_key_in_the_environment_needs_new_then_old(data_dir, run_cli, monkeypatch):
    first = generate_key()
    monkeypatch.setenv(ENV, first)
    store = Store.open(data_dir)
    add_customer(store)
    add_line(store, "ROSSI", "200", "Desk", PASSWORDS[0])
    store.close()
    assert not (data_dir / KEY_FILE).exists()
    refused = run_cli("secrets", "rotate", ok=False)
    assert refused.exit_code != 0 and "NEW,OLD" in refused.output
    second = generate_key()
    monkeypatch.setenv(ENV, f"{second},{first}")
    run_cli("secrets", "rotate")
    monkeypatch.setenv(ENV, second)
    store = Store.open(data_dir)
    with store.reading() as tx:
        assert tx.line(tx.customer_by_code("ROSSI")["id"], "200")["password"] == PASSWORDS[0]
    store.close()


def test_a_wrong_key_is_refused_at_start_with_a_clear_message(store, data_dir, monkeypatch):
    add_customer(store)
    add_line(store, "ROSSI", "200", "Desk", PASSWORDS[0])
    monkeypatch.setenv(ENV, generate_key())
    with pytest.raises(SealError) as caught:
        Store.open(data_dir)
    assert "PROVISIONER_SECRET_KEY" in str(caught.value)
    monkeypatch.setenv(ENV, "not-a-key")
    with pytest.raises(SealError, match="not a secret key"):
        Sealer.for_data_dir(data_dir)


def test_imported_passwords_are_sealed_too(data_dir, run_cli, tmp_path):
    """The import writes lines in bulk (its own executemany path); its passwords are sealed as well."""
    sheet = tmp_path / "phones.csv"
    sheet.write_text(
        "MAC,Model,Customer,SIP server,Extension,Name,SIP password\n"
        f"00:15:65:AA:00:01,T46U,ROSSI,pbx.example.net,301,Desk A,{PASSWORDS[0]}\n"
        f"00:15:65:AA:00:02,T46U,ROSSI,pbx.example.net,302,Desk B,{PASSWORDS[1]}\n"
    )
    run_cli("import", str(sheet))
    raw = db_bytes(data_dir)
    assert b"001565AA0001" in raw  # the import landed in these files
    for secret in PASSWORDS[:2]:
        assert secret.encode() not in raw, "an imported password is stored in plaintext"
    db = Store.open(data_dir)
    try:
        with db.reading() as tx:
            customer = tx.customer_by_code("ROSSI")
            assert [r["password"] for r in tx.lines_of_customer(customer["id"])] == list(PASSWORDS[:2])
    finally:
        db.close()


def test_a_tampered_or_foreign_value_is_refused_without_revealing_anything():
    sealer = Sealer([generate_key().encode()])
    sealed = sealer.seal(PASSWORDS[0])
    assert sealer.open(sealed) == PASSWORDS[0]
    assert sealer.seal(PASSWORDS[0]) != sealed  # a fresh nonce each time
    scheme, kid, body = sealed.split(".")
    flipped = body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    for bad in (f"{scheme}.{kid}.{flipped}", f"{scheme}.00000000.{body}", "plaintext", f"g0.{kid}.{body}"):
        with pytest.raises(SealError) as caught:
            sealer.open(bad)
        assert PASSWORDS[0] not in str(caught.value)


def test_sealing_in_bulk_gives_what_sealing_one_value_gives():
    """seal_many (what the import's bulk insert uses): each value opens to its text, with its own
    nonce, in the same form and length as seal()."""
    sealer = Sealer([generate_key().encode()])
    texts = [PASSWORDS[0], PASSWORDS[0], "", "Zoë €uro", "=+-@" * 80]
    sealed = sealer.seal_many(texts)
    assert [sealer.open(value) for value in sealed] == texts
    assert sealed[0] != sealed[1]  # a fresh nonce for each value
    one_by_one = [sealer.seal(text) for text in texts]
    assert [value.split(".")[:2] for value in sealed] == [value.split(".")[:2] for value in one_by_one]
    assert [len(value) for value in sealed] == [len(value) for value in one_by_one]
    assert all("+" not in value and "/" not in value and PASSWORDS[0] not in value for value in sealed)
    assert len({value.split(".")[2][:16] for value in sealer.seal_many(["same"] * 1000)}) == 1000  # nonces differ
    assert sealer.seal_many([]) == []


def test_bulk_inserted_secrets_are_sealed_and_empty_ones_stay_empty(store, data_dir):
    """The store's bulk insert seals a Sealed column in one go, leaving None as NULL."""
    from datetime import UTC, datetime

    from provisioner.db import customer_security

    add_customer(store)
    add_customer(store, "BIANCHI", name="Bianchi")
    with store.transaction() as tx:
        ids = [c["id"] for c in tx.list_customers()]
        tx._insert_many(
            customer_security,
            [{"customer_id": cid, "auth": "digest"} for cid in ids],
            {"updated_at": datetime.now(UTC)},
            columns={"password": [PASSWORDS[0], None], "path_key": [PASSWORDS[1], PASSWORDS[2]]},
        )
    raw = db_bytes(data_dir)
    for secret in PASSWORDS:
        assert secret.encode() not in raw
    with store.reading() as tx:
        assert [(r["password"], r["path_key"]) for r in map(tx.customer_security, ids)] == [
            (PASSWORDS[0], PASSWORDS[1]),
            (None, PASSWORDS[2]),
        ]
        stored = dict(
            tx.conn.execute(
                sa.select(customer_security.c.customer_id, customer_security.c.password.cast(sa.Text))
            ).all()
        )
    assert stored[ids[0]].startswith("g1.") and stored[ids[1]] is None
