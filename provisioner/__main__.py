"""``python -m provisioner ...``: the ``provisioner`` command, for an install without its script on PATH
(``python -m provisioner serve`` is what ``python server.py`` is in a checkout)."""

from .cli import main

if __name__ == "__main__":
    main()
