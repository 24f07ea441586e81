"""python server.py [--http-port 8080] [--tftp-port 6969] [--data-dir ./data] ...

Starts HTTP and TFTP together on the embedded SQLite (see `provisioner serve --help`).
"""

import sys

from provisioner.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
