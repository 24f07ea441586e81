"""The CLI never makes a database silently: a reading command refuses to, a writing one says so.

`cd /tmp && provisioner customer list` used to create an empty ./data (database and secret key)
and print nothing, as if the provider had no customers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from provisioner.cli import cli
from provisioner.settings import Settings
from provisioner.web import create_app
from tests.test_postgres import postgres_url  # noqa: F401  (a PostgreSQL of this module's own)

READING = [
    ("customer", "list"),
    ("customer", "show", "ROSSI"),
    ("line", "list", "ROSSI"),
    ("device", "show", "001565A1B2C3"),
    ("device", "config", "001565A1B2C3", "001565a1b2c3.cfg"),
    ("device", "history", "001565A1B2C3"),
    ("device", "downloads", "001565A1B2C3"),
    ("devices", "unknown"),
    ("rentals", "due"),
    ("rentals", "overdue"),
    ("rentals", "charged"),
    ("rentals", "costs"),
    ("user", "list"),
    ("export", "out.csv"),
]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no database, as the working directory, and no data dir from the environment."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("PROVISIONER_DATA_DIR", "PROVISIONER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return folder


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("args", READING, ids=[" ".join(a[:2]) for a in READING])
def test_a_reading_command_refuses_to_create_a_database(elsewhere: Path, args: tuple[str, ...]):
    code, out, err = invoke(*args)
    assert code == 1 and out == ""
    expected = elsewhere.resolve() / "data" / "provisioner.sqlite3"
    assert err == (
        f"Error: no database at {expected}: point at yours with --data-dir (PROVISIONER_DATA_DIR) "
        "or --database-url (PROVISIONER_DATABASE_URL)\n"
    )
    assert list(elsewhere.iterdir()) == []  # no data/, no secret.key, no export file


def test_a_reading_command_names_the_folder_it_was_given(elsewhere: Path, tmp_path: Path):
    code, _out, err = invoke("customer", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and f"no database at {tmp_path.resolve() / 'nowhere' / 'provisioner.sqlite3'}:" in err
    assert not (tmp_path / "nowhere").exists()


def test_a_writing_command_creates_the_database_and_says_where(elsewhere: Path):
    code, out, err = invoke("customer", "add", "ROSSI", "--name", "Studio Rossi", "--sip-server", "pbx.example.net")
    assert code == 0, err
    database = elsewhere.resolve() / "data" / "provisioner.sqlite3"
    assert err == f"new database at {database}\n"
    assert database.is_file() and (elsewhere / "data" / "secret.key").is_file()
    # Only the first time; readers now find it.
    code, out, err = invoke("line", "add", "ROSSI", "201", "--name", "Reception", "--password", "s3cret-Pw")
    assert (code, err) == (0, "")
    code, out, err = invoke("customer", "list")
    assert (code, err) == (0, "") and "ROSSI" in out


async def test_serve_creates_the_database_and_logs_it(aiohttp_client, tmp_path: Path):
    data_dir = tmp_path / "fresh"
    settings = Settings(data_dir=data_dir, host="127.0.0.1", http_port=0, tftp_port=None)
    with capture_logs() as logs:
        client = await aiohttp_client(create_app(settings), server_kwargs={"host": "127.0.0.1"})
        assert (await client.get("/healthz")).status == 200
    new = [entry for entry in logs if entry["event"] == "new_database"]
    assert [entry["database"] for entry in new] == [str(data_dir.resolve() / "provisioner.sqlite3")]

    # A second start on the same folder opens it quietly.
    await client.close()
    with capture_logs() as logs:
        again = await aiohttp_client(create_app(settings), server_kwargs={"host": "127.0.0.1"})
        assert (await again.get("/healthz")).status == 200
    assert "new_database" not in {entry["event"] for entry in logs}
    assert "store_opened" in {entry["event"] for entry in logs}


def test_on_postgresql_a_reader_refuses_an_empty_database_and_a_writer_says_it_made_one(postgres_url, elsewhere):  # noqa: F811
    import sqlalchemy as sa

    base, _, _name = postgres_url.rpartition("/")
    admin = sa.create_engine(
        f"{base}/postgres".replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE fresh")
    admin.dispose()
    url = f"{base}/fresh"
    code, out, err = invoke("customer", "list", "--database-url", url)
    assert (code, out) == (1, "") and err.startswith(f"Error: no database at {url}: point at yours with --data-dir")
    code, out, err = invoke(
        "customer", "add", "ROSSI", "--name", "Studio Rossi", "--sip-server", "pbx.example.net", "--database-url", url
    )
    assert (code, err) == (0, f"new database at {url}\n")
    code, out, err = invoke("customer", "list", "--database-url", url)
    assert (code, err) == (0, "") and "ROSSI" in out
    assert list(elsewhere.iterdir()) == []  # the key comes from the environment; no ./data
