"""The structure the code promises: each vendor's module and template folder found together,
and no module importing another late (inside a function) to get around an import cycle."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import provisioner
from provisioner import errors, polling, rendering, vendors
from provisioner.rendering import SHIPPED_TEMPLATES

PACKAGE = Path(provisioner.__file__).parent


def _vendor_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(vendors.__path__) if info.name != "base")


def test_every_vendor_module_has_its_template_folder():
    for name in _vendor_modules():
        vendor = importlib.import_module(f"provisioner.vendors.{name}").VENDOR
        assert (vendor.name, vendor.folder) == (name, name)
        folder = SHIPPED_TEMPLATES / vendor.folder
        assert folder.is_dir(), f"vendors/{name}.py has no folder vendor_templates/{vendor.folder}/"
        missing = [t for t in vendor.templates() if not (SHIPPED_TEMPLATES / t).is_file()]
        assert missing == [], f"vendors/{name}.py names templates that vendor_templates/ lacks: {missing}"


def test_every_template_folder_has_a_vendor_module():
    folders = sorted(p.name for p in SHIPPED_TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    assert folders == _vendor_modules() == [v.folder for v in vendors.all_vendors()]
    for vendor in vendors.all_vendors():
        # A file at the top of a vendor's folder that none of its files names would never be served.
        shipped = {f"{vendor.folder}/{p.name}" for p in (SHIPPED_TEMPLATES / vendor.folder).iterdir() if p.is_file()}
        assert shipped == set(vendor.templates())


def test_render_error_has_one_home_imported_at_module_level():
    assert rendering.RenderError is errors.RenderError
    assert polling.RenderError is errors.RenderError
    for name in _vendor_modules():
        assert importlib.import_module(f"provisioner.vendors.{name}").RenderError is errors.RenderError


def test_no_late_import_of_rendering_or_errors():
    late = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] in ("rendering", "errors"):
                    late.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert late == []
