"""provisioner as installed software: the wheel alone serves every vendor's files.

The wheel is built from a copy of the sources (nothing of the checkout can leak in through the
working directory), installed with ``--no-deps`` into a fresh venv outside the checkout, and run
from another folder. The venv gets its dependencies from this test run's own site-packages through
a ``.pth`` line (offline and fast); a plain path line in a ``.pth`` does not run the ``.pth`` files
of the folder it adds, so an editable install of the checkout there stays out, and the test checks
that what is imported is the venv's copy of the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import provisioner

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from: a source tree as a clone has it.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "provisioner", "vendor_templates")

NAME_1 = "Rossi & Figli <Reception>"
PASSWORD_1 = "p9MrgPW*UfhMg+"
PHONES = {  # vendor: (model, MAC, User-Agent, its per-device settings file)
    "yealink": ("T46U", "001565A1B2C3", "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3", "001565a1b2c3.cfg"),
    "snom": ("D785", "00041396D9B4", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12)", "00041396D9B4.xml"),
    "polycom": (
        "VVX450",
        "64167FA1B2C6",
        "FileTransport PolycomVVX-VVX_450-UA/6.4.6.0123 Type/Application",
        "64167fa1b2c6-settings.cfg",
    ),
    "grandstream": (
        "GRP2614",
        "C074ADA1B2C8",
        "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ada1b2c8",
        "cfgc074ada1b2c8.xml",
    ),
}


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    assert proc.returncode == 0, f"{args}: {proc.stdout}{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    out = tmp_path_factory.mktemp("wheels")
    # No build isolation: the setuptools of this environment (the test extra asks for >=77), offline.
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        out,
        src,
        cwd=src,
    )
    [built] = out.glob("provisioner-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home)
    python = home / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_provisioner_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=home,
    )
    return home


def test_wheel_carries_templates_console_migrations_and_license(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vendor_templates").rglob("*") if p.is_file()}
    assert shipped and {f"provisioner/{name}" for name in shipped} <= names
    console = {
        p.relative_to(ROOT).as_posix()
        for d in ("templates", "static")
        for p in (ROOT / "provisioner" / "console" / d).iterdir()
        if p.is_file()
    }
    assert console and console <= names
    migrations = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "provisioner" / "db" / "migrations").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert migrations and migrations <= names
    version = provisioner.__version__
    assert {
        "provisioner/py.typed",
        "provisioner/__main__.py",
        f"provisioner-{version}.dist-info/licenses/LICENSE",
    } <= names
    metadata = zipfile.ZipFile(wheel).read(f"provisioner-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in metadata and "\nLicense-Expression: MIT\n" in metadata
    assert not any(name.startswith(("tests/", "server.py", "vendor_templates/")) for name in names)


def test_installed_wheel_serves_every_vendor_from_another_folder(venv: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data_dir = tmp_path / "data"
    cli = venv / "bin" / "provisioner"
    env = {"PROVISIONER_DATA_DIR": str(data_dir), "PYTHONPATH": ""}

    # What runs is the wheel's copy in the venv, with the templates it carries.
    where = json.loads(
        run(
            venv / "bin" / "python",
            "-c",
            "import json, provisioner, provisioner.rendering as r;"
            "print(json.dumps([provisioner.__file__, str(r.SHIPPED_TEMPLATES)]))",
            cwd=elsewhere,
            env=env,
        ).stdout
    )
    assert all(Path(p).is_relative_to(venv) for p in where), where
    assert (
        run(venv / "bin" / "python", "-m", "provisioner", "--version", cwd=elsewhere, env=env).stdout.strip()
        == f"provisioner, version {provisioner.__version__}"
    )

    first = run(
        cli,
        "customer",
        "add",
        "ROSSI",
        "--name",
        "Studio Rossi",
        "--sip-server",
        "pbx.rossi.example.net",
        "--path-key",
        "none",
        cwd=elsewhere,
        env=env,
    )  # plain paths: this test is about the wheel
    assert f"new database at {data_dir / 'provisioner.sqlite3'}" in first.stderr
    for extension, (model, mac, _ua, _file) in enumerate(PHONES.values(), start=201):
        run(
            cli,
            "line",
            "add",
            "ROSSI",
            str(extension),
            "--name",
            NAME_1,
            "--password",
            PASSWORD_1,
            cwd=elsewhere,
            env=env,
        )
        run(
            cli,
            "device",
            "add",
            mac,
            "--model",
            model,
            "--customer",
            "ROSSI",
            "--line",
            str(extension),
            cwd=elsewhere,
            env=env,
        )
    # A deployment's own template, in the data dir, wins over the shipped one.
    (data_dir / "templates" / "yealink").mkdir(parents=True)
    (data_dir / "templates" / "yealink" / "y000000000000.boot").write_text("#!version:1.0.0.1\n# ours\n")
    assert not list(elsewhere.iterdir()), "nothing is written to the working directory"

    http_port, tftp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [
            str(cli),
            "serve",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(http_port),
            "--tftp-port",
            str(tftp_port),
            "--public-url",
            "http://prov.test/",
        ],
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_healthy(proc, http_port)

        def get(name: str, ua: str) -> bytes:
            req = urllib.request.Request(f"http://127.0.0.1:{http_port}/{name}", headers={"User-Agent": ua})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
                return resp.read()

        for vendor, (_model, _mac, ua, name) in PHONES.items():
            body = get(name, ua).decode()
            assert PASSWORD_1 in body, vendor
            assert "pbx.rossi.example.net" in body and "prov.test" in body, vendor
        yealink_ua = PHONES["yealink"][2]
        assert get("y000000000000.boot", yealink_ua) == b"#!version:1.0.0.1\n# ours\n"
        assert b"# ours" not in get("001565a1b2c3.boot", yealink_ua)
        # The same process answers TFTP, with the same bytes (Polycom's master file fits one block).
        master = get("000000000000.cfg", PHONES["polycom"][2])
        assert 0 < len(master) < 512
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(b"\x00\x01000000000000.cfg\x00octet\x00", ("127.0.0.1", tftp_port))
            packet, _ = sock.recvfrom(1024)
        assert packet[:4] == b"\x00\x03\x00\x01" and packet[4:] == master
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode()
    assert PASSWORD_1 not in stderr
    assert not list(elsewhere.iterdir())


def wait_healthy(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if json.load(resp)["status"] == "ok":
                    return
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
    raise AssertionError("the installed server did not answer /healthz")


def test_license_version_and_docs_agree():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    # The version has one home, provisioner/__init__.py.
    assert "version" not in project and project["dynamic"] == ["version"]
    readme = (ROOT / "README.md").read_text()
    for promised in (
        "deploy/Dockerfile",
        "deploy/compose.yaml",
        "deploy/provisioner.service",
        "python -m provisioner",
        "pip wheel",
        "second terminal",
    ):
        assert promised in readme, promised
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for script in (ROOT / "benchmarks").glob("*.py"):
        assert f"benchmarks/{script.name}" in contributing, script.name
