"""Instructions per cold request: the server run under callgrind, this revision and another.

This machine's speed drifts by up to 30% within a minute, so a change of a few percent to the cold
path hides in wall-clock figures. An instruction count does not drift: ``valgrind --tool=callgrind``
counts what the server executes (every thread: the loop, the cache loads, the activity flush),
whatever else the machine is doing. Each side: the server started fresh under callgrind (pre-warm
off, instrumentation off) on a copy of one seeded fleet; ``--warmup`` devices fetched first (the
customer's phonebook is read then, once); instrumentation on; ``--requests`` other devices fetched
once each over ``--connections`` kept connections by a small client in another process; then the
count is dumped. Prints instructions per request for each side and the ratio. It is ~50x slower
than the server runs natively: a few minutes.

    python benchmarks/cold_instructions.py --against abebfea [--devices 4000 --requests 2000]

Needs valgrind (``apt-get install -y valgrind``). Not a test: compare the lines of one run. The
count is repeatable to about 1%; timing-dependent work (how many misses a batch gathers, the
periodic tasks) moves it that much.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from boot_storm import add_worktree, free_port, remove_worktree, seed, server_command, wait_ready  # noqa: E402


async def fetch_each(port: int, requests: list[tuple[str, str]], connections: int) -> int:
    """Every request once, over ``connections`` kept connections; how many were answered 200."""
    queue = list(reversed(requests))
    ok = 0

    async def one_connection() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            path, user_agent = queue.pop()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: {user_agent}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            ok += head.startswith(b"HTTP/1.1 200 ")
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return ok


def instructions(out: Path) -> int:
    """The instruction total of the dump ``callgrind_control -d`` made (``<out>.1``; the file callgrind
    writes at the server's exit is left out)."""
    total = 0
    for dump in out.parent.glob(out.name + ".*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def measure(root: Path, data_dir: Path, warmup: list, cold: list, connections: int, out: Path) -> tuple[int, int]:
    """(instructions, requests answered 200) of the cold requests, on the server of ``root``."""
    port = free_port()
    command = [*server_command(root, data_dir, port, connections), "--workers", "1", "--prewarm", "off"]
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    proc = subprocess.Popen([*valgrind, *command], env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{port}/healthz", proc, tries=3000))  # valgrind starts it slowly
        asyncio.run(fetch_each(port, warmup, 10))
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        ok = asyncio.run(fetch_each(port, cold, connections))
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    return instructions(out), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=300, help="devices fetched before counting")
    parser.add_argument("--requests", type=int, default=2000, help="cold requests counted")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--against", metavar="REV", help="also the server of this git revision")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("needs valgrind: apt-get install -y valgrind")
    if args.warmup + args.requests > args.devices:
        sys.exit("--warmup + --requests must not exceed --devices (each cold request is a device's first)")
    with tempfile.TemporaryDirectory() as tmp:
        seeded = Path(tmp) / "seeded"
        requests = seed(seeded, args.devices)
        warmup, cold = requests[: args.warmup], requests[args.warmup : args.warmup + args.requests]
        sides = {"now": ROOT}
        if args.against:
            sides[args.against] = Path(tmp) / "against"
            add_worktree(args.against, sides[args.against])
        counts = {}
        try:
            for name, root in sides.items():
                data_dir = Path(tmp) / f"data-{len(counts)}"
                shutil.copytree(seeded, data_dir)
                total, ok = measure(root, data_dir, warmup, cold, args.connections, Path(tmp) / f"cg-{len(counts)}.out")
                counts[name] = total / len(cold)
                per = counts[name] / 1e3
                print(f"{name:<12} {per:8.0f}k instructions per cold request ({ok}/{len(cold)} 200)", flush=True)
        finally:
            if args.against:
                remove_worktree(sides[args.against])
    if args.against:
        print(f"now / {args.against} = {counts['now'] / counts[args.against]:.3f}")


if __name__ == "__main__":
    main()
