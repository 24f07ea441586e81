"""The layering reads top-down: server/cli -> web/tftp/console/api -> services -> rendering/vendors -> db.

Every module's imports (module level and inside functions) are read with ``ast``; a lower layer
importing a higher one fails here, naming the file, the line and the rule.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import provisioner

PACKAGE = Path(provisioner.__file__).parent

# Top-level names of provisioner/ (a module or a package), by layer.
INTERFACES = {"cli", "__main__", "supervisor"}  # supervisor: serve --workers, runs cli.serve in each worker
ADAPTERS = {
    "web",
    "http_server",
    "lifecycle",
    "console",
    "api",
    "tftp",
    "tftp_session",
    "tftp_listener",
    "tftp_codec",
    "mdns",
    "wire",  # a warm reply's HTTP response as bytes made once (web sends it)
}
SERVICES = {
    "services",
    "rental_services",
    "rental_contracts",
    "rental_returns",
    "rental_history",
    "rental_standing",
    "rental_terms",
    "security_services",
    "accounts",
    "auth",
    "function_keys",
    "phonebook",
    "firmware",
    "keys",  # the app's typed state keys: auth and the redirect worker's cleanup_ctx read them
    "queries",
    "changes",
    "importing",
    "redirect",
    "resolver",  # the phone-facing use case; keys and the redirect worker call it
    "phone_reply",
    "upload_route",
    "warm_replies",
    "firmware_rollout",
    "firmware_serving",
    "tasks",  # background jobs: how they stop and how their failures are logged
    "shared_sync",  # the background sync of what other processes wrote: cache events and bans
    "activity",
    "sip",
}
# Plain rules: no I/O, no store (DESIGN: "Domain logic is plain code").
DOMAIN = {"rentals", "access", "macs", "timezones", "errors", "polling", "uploads", "sealing"}
RENDERING = {
    "rendering",
    "render_data",
    "cache",
    "prewarm",
    "cache_metrics",
    "vendors",
    "key_layout",
    "fields",
    "rental_reports",
}


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module, dotted from the top: ``provisioner.x.y`` or ``sqlalchemy...``, line) of a file."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                found.append((node.module or "", node.lineno))
                continue
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                found.append((".".join([*base, node.module]), node.lineno))
            else:  # from . import x, y: each is a module (or a name of the package)
                found += [(".".join([*base, alias.name]), node.lineno) for alias in node.names]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts)


def _top(dotted: str) -> str | None:
    """The top-level provisioner name a dotted import reaches (``provisioner.db.tx`` -> ``db``)."""
    parts = dotted.split(".")
    return parts[1] if parts[0] == "provisioner" and len(parts) > 1 else None


def _leaves() -> set[str]:
    """Top-level modules that import nothing else of provisioner (errors, macs, sealing, ...)."""
    leaves = set()
    for path in PACKAGE.glob("*.py"):
        name = path.stem
        if all(_top(mod) in (None, name, "__version__") for mod, _ in imports_of(path)):
            leaves.add(name)
    return leaves


# (the layer's modules, what they must not import, why)
RULES = [
    (INTERFACES | ADAPTERS | SERVICES | RENDERING, {"sqlalchemy", "alembic"}, "only db/ speaks SQL"),
    (RENDERING, INTERFACES | ADAPTERS | SERVICES, "rendering and vendors sit below the use cases"),
    (DOMAIN, INTERFACES | ADAPTERS | SERVICES | RENDERING | {"db"}, "plain rules do no I/O"),
    (SERVICES, INTERFACES | ADAPTERS, "use cases are called by the interfaces, never the reverse"),
    (ADAPTERS, INTERFACES, "the web, TFTP, console and API are started by the CLI, not the reverse"),
]
# Deliberate exceptions: (importing top-level name, imported top-level name) -> why.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def violations() -> list[str]:
    found = []
    leaves = _leaves()
    for path in _modules():
        where = str(path.relative_to(PACKAGE))
        top = _module_name(path)[1] if len(_module_name(path)) > 1 else ""
        for dotted, line in imports_of(path):
            target = _top(dotted)
            external = dotted.split(".")[0]
            if top == "db":
                if target not in (None, "db", "__version__") and target not in leaves:
                    found.append(f"{where}:{line} imports provisioner.{target}: db/ imports only db/ and leaf modules")
                continue
            if external in ("sqlalchemy", "alembic") and top != "db":
                found.append(f"{where}:{line} imports {external}: only db/ speaks SQL")
            for layer, forbidden, why in RULES:
                if top in layer and target in forbidden and (top, target) not in EXCEPTIONS:
                    found.append(f"{where}:{line} imports provisioner.{target}: {why}")
    return found


def test_layers_read_top_down():
    assert violations() == []


def test_every_module_has_a_layer_or_is_a_leaf():
    """A new top-level module is placed in a layer here (or imports nothing of provisioner)."""
    placed = INTERFACES | ADAPTERS | SERVICES | DOMAIN | RENDERING | {"db", "__init__"} | _leaves()
    names = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert sorted(names - placed) == []


@pytest.mark.parametrize(
    ("file", "line", "rule"),
    [
        ("db/tx.py", "from ..services import add_device", "db/ imports only db/"),
        ("rendering.py", "from . import services", "rendering and vendors"),
        ("vendors/snom.py", "from .. import rental_services", "rendering and vendors"),
        ("rentals.py", "from .db import Tx", "plain rules do no I/O"),
        ("queries.py", "from .console import pages", "use cases are called by the interfaces"),
        ("web.py", "import sqlalchemy as sa", "only db/ speaks SQL"),
        ("tftp.py", "from .cli import base", "started by the CLI"),
    ],
)
def test_a_violation_is_caught(tmp_path, monkeypatch, file, line, rule):
    """The checker itself: one bad import added to a copy of the package is named, with its rule."""
    copy = tmp_path / "provisioner"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    target = copy / file
    target.write_text(target.read_text(encoding="utf-8") + f"\n\ndef _planted():\n    {line}\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "PACKAGE", copy)
    found = violations()
    assert len(found) == 1 and file in found[0] and rule in found[0], found
