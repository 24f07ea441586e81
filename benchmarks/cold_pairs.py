"""Cold passes in pairs: this revision's server and another revision's, each started fresh (pre-warm
off) on the same seeded fleet, one right after the other, with wrk (issue 19's cold target).

The host's speed drifts by up to 30% within a minute, so a change to the cold path is read from
rounds of back-to-back passes (which server goes first alternates), not from two runs minutes apart.
Each pass: the server started with an empty cache, a 1 s pause, then ``--seconds`` of wrk walking the
fleet once per thread (first fetches only: every request loads and renders). Prints each pass's
req/s, the server's CPU per request (from /proc), p99 and the loop lag, then the medians.

    python benchmarks/cold_pairs.py --devices 20000 --rounds 6 --against 1659663

Not a test: figures depend on the machine; compare the lines of one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from boot_storm import (  # noqa: E402
    add_worktree,
    free_port,
    lag_line,
    metrics,
    remove_worktree,
    seed,
    server_command,
    start,
    timed_pass,
)

CONNECTIONS = 100  # wrk's, with 2 threads


def cold_pass(root: Path, data_dir: Path, requests_file: Path, seconds: float) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [*server_command(root, data_dir, port, CONNECTIONS), "--workers", "1", "--prewarm", "off"]
    server = start(command, base, root=root)
    try:
        time.sleep(1)
        lag = metrics(base)
        wrk_args = {"threads": 2, "connections": CONNECTIONS, "once": True}
        result = timed_pass(base, server.pid, requests_file, seconds, wrk_args)
        result["lag"] = lag_line(lag, metrics(base))  # type: ignore[assignment]
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4, help="short enough that no wrk thread runs out of devices")
    parser.add_argument("--against", metavar="REV", required=True, help="the other git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        requests = seed(data_dir, args.devices)
        requests_file = Path(tmp) / "requests.tsv"
        requests_file.write_text("".join(f"{p}\t{ua}\n" for p, ua in requests))
        other = Path(tmp) / "against"
        add_worktree(args.against, other)
        sides = {"now": ROOT, args.against: other}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        try:
            for n in range(args.rounds):
                for name in list(sides) if n % 2 == 0 else list(sides)[::-1]:
                    r = cold_pass(sides[name], data_dir, requests_file, args.seconds)
                    results[name].append(r)
                    print(
                        f"round {n + 1} {name:<12} {r['rps']:6.0f} req/s  "
                        f"{r['server_cpu'] / r['requests'] * 1e6:5.0f} us CPU per request  "
                        f"p99 {r['p99_ms']:5.0f} ms  non-2xx {r['errors']:.0f}  {r['lag']}",
                        flush=True,
                    )
        finally:
            remove_worktree(other)
        for name, rs in results.items():
            rps = [r["rps"] for r in rs]
            print(
                f"median {name:<12} {statistics.median(rps):6.0f} req/s ({min(rps):.0f}-{max(rps):.0f})  "
                f"{statistics.median(r['server_cpu'] / r['requests'] * 1e6 for r in rs):5.0f} us CPU per request  "
                f"p99 {statistics.median(r['p99_ms'] for r in rs):5.0f} ms"
            )


if __name__ == "__main__":
    main()
