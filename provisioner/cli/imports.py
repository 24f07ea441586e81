"""``provisioner import`` and ``provisioner export``."""
