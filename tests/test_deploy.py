"""The deployment files in deploy/: a systemd unit, a container image, a two-node compose file.

What can be checked without a service manager or a container engine is checked always (the files
say what the README promises); ``systemd-analyze verify`` runs where it exists, and the image is
built only where a container engine answers (not on this project's CI machine, which has only a
docker client: the test says so when it skips).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_unit_is_hardened_and_binds_low_ports_without_root():
    unit = directives((DEPLOY / "provisioner.service").read_text())
    assert unit["DynamicUser"] == ["yes"] and unit["StateDirectory"] == ["provisioner"]
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["Environment"] == ["PROVISIONER_DATA_DIR=%S/provisioner"]
    [exec_start] = unit["ExecStart"]
    assert exec_start.split()[1:] == ["serve", "--http-port", "80", "--tftp-port", "69"]


def test_systemd_unit_verifies(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd here)")
    # verify wants ExecStart's program to exist: point it at this environment's console script.
    script = Path(sys.executable).parent / "provisioner"
    if not script.exists():
        pytest.skip(f"no console script at {script} to stand for /opt/provisioner/bin/provisioner")
    text = (DEPLOY / "provisioner.service").read_text()
    unit = tmp_path / "provisioner.service"
    unit.write_text(text.replace("/opt/provisioner/bin/provisioner", str(script)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_dockerfile_runs_unprivileged_with_a_data_volume_and_a_healthcheck():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim\b", text, re.MULTILINE)
    assert re.search(r"^USER provisioner$", text, re.MULTILINE)
    assert 'VOLUME ["/data"]' in text and "PROVISIONER_DATA_DIR=/data" in text
    assert re.search(r"^EXPOSE 8080/tcp 6969/udp$", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, re.MULTILINE)
    # Everything it copies is in the repository (the build context is its root).
    for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE):
        for name in line.split():
            assert (ROOT / name).exists(), name


def test_compose_runs_two_nodes_on_one_postgresql():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "node1", "node2"}
    assert services["db"]["image"].startswith("postgres:") and "healthcheck" in services["db"]
    nodes = [services["node1"], services["node2"]]
    for node in nodes:
        env = node["environment"]
        assert env["PROVISIONER_DATABASE_URL"].startswith("postgresql://provisioner:")
        assert env["PROVISIONER_DATABASE_URL"].endswith("@db/provisioner")
        assert "PROVISIONER_SECRET_KEY" in env  # every node must open the others' secrets
        assert node["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert nodes[0]["environment"] == nodes[1]["environment"]
    ports = [p for node in nodes for p in node["ports"]]
    assert len({p.split(":")[0] + p[-4:] for p in ports}) == len(ports) == 4
    assert services["node2"]["depends_on"] == {"node1": {"condition": "service_healthy"}}


def _engine() -> str | None:
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=30).returncode == 0:
            return path
    return None


@pytest.mark.skipif(
    not os.environ.get("PROVISIONER_TEST_IMAGE"),
    reason="set PROVISIONER_TEST_IMAGE=1 to build "
    "the container image (needs a running docker or podman and the network)",
)
def test_image_builds():
    engine = _engine()
    if engine is None:
        pytest.skip("no container engine answers here (a docker client alone cannot build)")
    proc = subprocess.run(
        [engine, "build", "-f", "deploy/Dockerfile", "-t", "provisioner:test", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    version = subprocess.run(
        [engine, "run", "--rm", "provisioner:test", "--version"], capture_output=True, text=True, timeout=120
    )
    assert version.returncode == 0 and version.stdout.startswith("provisioner, version ")
