"""README's "Layout" is the module map: it names every module and package of provisioner/ (and every
module of db/, which it maps file by file), and no file that is not there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "provisioner"


def _layout() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Layout\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _named(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*\.py|[A-Za-z_][A-Za-z0-9_]*/", text))


def _db_section(layout: str) -> str:
    """The lines under ``db/`` (deeper indented than it)."""
    lines = layout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  db/"))
    section = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        section.append(line)
    return "\n".join(section)


def test_layout_names_every_module_and_package():
    named = _named(_layout())
    modules = {p.name for p in PACKAGE.glob("*.py")}
    packages = {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert sorted((modules | packages) - named) == [], "add them to README's Layout, one line on what each holds"


def test_layout_names_every_db_module():
    section = _db_section(_layout())
    words = set(re.findall(r"[A-Za-z_]+", section))
    missing = [p.name for p in (PACKAGE / "db").glob("*.py") if p.name != "__init__.py" and p.stem not in words]
    assert missing == []


def test_layout_names_no_module_that_is_gone():
    layout = _layout()
    known = {p.name for p in PACKAGE.rglob("*.py")} | {"server.py"}
    assert sorted(n for n in _named(layout) if n.endswith(".py") and n not in known) == []
