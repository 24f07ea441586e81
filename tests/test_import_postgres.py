"""The same imports on PostgreSQL, whose bulk writes take the plain SQLAlchemy path (RETURNING ids)."""

from __future__ import annotations

import pytest

from provisioner import importing, services
from provisioner.db import Store
from tests.conftest import ACTOR, SAMPLES
from tests.test_postgres import postgres_url  # noqa: F401  (the fixture: a real server on a free port)


@pytest.fixture
def pg_store(postgres_url, tmp_path):  # noqa: F811
    store = Store.open(tmp_path, postgres_url)
    yield store
    store.close()


def run(store: Store, path, **kw):
    return importing.run(store, importing.check(importing.read_path(path)), actor=ACTOR, **kw)


def test_samples_import_reimport_and_export_round_trip_on_postgres(pg_store, tmp_path):
    services.add_customer(pg_store, ACTOR, "GALLO", name="Ferramenta Gallo", sip_server="pbx.gallo.example.net")
    for name in ("it_excel_export.csv", "deployment.xlsx", "legacy_export.xls"):
        plan, applied = run(pg_store, SAMPLES / name)
        assert applied and not plan.problems and plan.counts()["device"]["create"] > 0
    shown = services.show_device(pg_store, "805EC05BCEDC")
    assert [ln["extension"] for ln in shown["lines"]] == ["3001", "3099"]
    # One event for the phone, carrying the lines created with it (their values, never a password).
    assert [e["action"] for e in shown["history"]] == ["device.created"]
    created = shown["history"][0]
    assert [ln["extension"] for ln in created["after"]["new_lines"]] == ["3001", "3099"]
    assert (
        created["after"]["lines"] == ["3001", "3099"] and "created by import of deployment.xlsx" in created["summary"]
    )
    assert not any("password" in ln for ln in created["after"]["new_lines"])
    with pg_store.reading() as tx:
        assert tx.count_devices() == 66

    plan, _ = run(pg_store, SAMPLES / "deployment.xlsx")
    assert plan.changes == []
    target = tmp_path / "all.xlsx"
    importing.export(pg_store, ACTOR, target)
    plan, _ = run(pg_store, target)
    assert plan.changes == [] and plan.counts()["device"]["unchanged"] == 66

    rejected, applied = run(pg_store, SAMPLES / "with_mistakes.csv")
    assert rejected.rejected and not applied
    skipped, applied = run(pg_store, SAMPLES / "with_mistakes.csv", skip_invalid=True)
    assert applied and skipped.counts()["device"]["create"] == 3
