"""provisioner: auto-provisioning server for desk phones."""

__version__ = "0.1.0"
