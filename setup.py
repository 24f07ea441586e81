"""Only what pyproject.toml cannot say: the package list with one mapped folder.

``vendor_templates/`` stays at the top of the repository, where deployments edit templates; the
wheel carries it as ``provisioner/vendor_templates`` (``provisioner.rendering`` finds it there with
importlib.resources, and beside the package in a checkout). Its folders (one per vendor, one per
model), like the package's own data folders (console templates, migrations), are listed as data
packages, as setuptools wants for folders of data.
"""

from setuptools import find_namespace_packages, setup

TEMPLATES = "provisioner.vendor_templates"

setup(
    packages=[*find_namespace_packages(include=["provisioner", "provisioner.*"], exclude=["*.__pycache__"]),
              TEMPLATES,
              *(f"{TEMPLATES}.{name}" for name in find_namespace_packages(where="vendor_templates"))],
    package_dir={TEMPLATES: "vendor_templates"},
)
