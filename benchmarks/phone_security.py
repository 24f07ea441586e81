"""What the phone-facing security checks cost on the warm path, in process (no HTTP, no client).

Seeds N devices of mixed vendors in two customers: PLAIN (no rules: the scan-defence lookup only)
and SECURED (Digest + path key + device token window + allowlist, the heaviest combination), warms
the cache, then times :meth:`Resolver.resolve` for every device, several rounds, both ways. The
SECURED requests carry a precomputed valid Digest response, the path key, the device's token and
an allowed address.
Also times resolving unknown MACs from one address until it is banned, then what a banned address
costs. Prints requests/s and the ratio SECURED / PLAIN measured in the same run.

    python benchmarks/phone_security.py [--devices 4000] [--rounds 5]

Not a test: figures depend on the machine; read them, compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner import fields, logs, security_services, services  # noqa: E402
from provisioner.access import REALM, ScanGuard  # noqa: E402
from provisioner.activity import Activity  # noqa: E402
from provisioner.cache import ConfigCache  # noqa: E402
from provisioner.db import Store  # noqa: E402
from provisioner.fields import line_values  # noqa: E402
from provisioner.rendering import Renderer  # noqa: E402
from provisioner.resolver import Request, Resolver  # noqa: E402

FLEET = [
    ("T46U", "001565", "{mac_l}.cfg"),
    ("D785", "000413", "{mac_u}.xml"),
    ("VVX450", "64167F", "{mac_l}-settings.cfg"),
    ("GRP2614", "C074AD", "cfg{mac_l}.xml"),
]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def seed(store: Store, count: int) -> dict[str, list[str]]:
    paths: dict[str, list[str]] = {"PLAIN": [], "SECURED": []}
    for code in paths:
        services.add_customer(store, "bench", code, name=code, sip_server="pbx.example.net")
    with store.reading() as tx:
        ids = {code: tx.customer_by_code(code)["id"] for code in paths}
    with store.transaction() as tx:
        for i in range(count):
            code = "PLAIN" if i % 2 == 0 else "SECURED"
            model, prefix, pattern = FLEET[i % len(FLEET)]
            vendor, key = fields.model(model)
            mac = f"{prefix}{i:06X}"
            line_id = tx.insert_line(
                {
                    "customer_id": ids[code],
                    **line_values({"display_name": f"Desk {i}", "password": f"pw-{i}-Xy!"}, str(100000 + i)),
                }
            )
            device_id = tx.insert_device(
                {
                    "mac": mac,
                    "vendor": vendor,
                    "model": key,
                    "customer_id": ids[code],
                    "state": "deployed",
                    "settings": {},
                }
            )
            tx.set_device_lines(device_id, [line_id])
            paths[code].append(pattern.format(mac_l=mac.lower(), mac_u=mac))
    return paths


async def rate(resolver: Resolver, requests: list[Request], rounds: int, expect: int) -> float:
    for req in requests:  # warm: every file rendered once
        reply = await resolver.resolve(req)
        assert reply.status == expect, (req.path, reply.status, reply.reason)
    started = time.perf_counter()
    for _ in range(rounds):
        for req in requests:
            await resolver.resolve(req)
    return rounds * len(requests) / (time.perf_counter() - started)


async def main(devices: int, rounds: int) -> None:
    logs.configure("warning", "console")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        paths = seed(store, devices)
        made = security_services.set_customer_security(
            store,
            "bench",
            "SECURED",
            auth="digest",
            path_key="new",
            window_hours=24,
            allow=["10.0.0.0/8", "127.0.0.0/8"],
        )
        password, key = made["new_secrets"]["password"], made["new_secrets"]["path_key"]
        cache = ConfigCache(store, Renderer(), provisioning_url="http://prov.example.net/", ntp_server="pool.ntp.org")
        await cache.sync()
        activity = Activity(store)
        resolver = Resolver(store, cache, activity, guard=ScanGuard())
        nonce = resolver.digest.nonce()
        ha1 = md5(f"SECURED:{REALM}:{password}")

        tokens = {}
        for path in paths["SECURED"]:
            entry = await cache.device(path.split(".")[0].replace("cfg", "").split("-")[0].upper())
            tokens[path] = entry.access.token

        def signed(path: str) -> Request:
            uri = f"/p/{key}/d/{tokens[path]}/{path}"
            response = md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{md5('GET:' + uri)}")
            header = (
                f'Digest username="SECURED", realm="{REALM}", nonce="{nonce}", uri="{uri}", qop=auth, '
                f'nc=00000001, cnonce="c0ffee", response="{response}"'
            )
            return Request(uri, "127.0.0.1", authorization=header)

        plain = [Request(p, "127.0.0.1") for p in paths["PLAIN"]]
        secured = [signed(p) for p in paths["SECURED"]]
        plain_rate = await rate(resolver, plain, rounds, 200)
        secured_rate = await rate(resolver, secured, rounds, 200)
        activity._downloads.clear()

        unknown = [Request(f"001565{0xF00000 + i:06X}.cfg".lower(), "192.0.2.1") for i in range(10)]
        for req in unknown:
            await resolver.resolve(req)
        assert resolver.guard.banned("192.0.2.1")
        banned = [Request(p, "192.0.2.1") for p in paths["PLAIN"]]
        banned_rate = await rate(resolver, banned, rounds, 403)
        store.close()
    print(f"{devices} devices, {rounds} rounds, warm cache, resolver in process (one core)")
    print(f"  no rules (scan-defence lookup only)     {plain_rate:10,.0f} req/s")
    print(f"  digest + path key + token window + CIDR {secured_rate:10,.0f} req/s")
    print(f"  a banned address                        {banned_rate:10,.0f} req/s")
    print(f"secured / plain = {secured_rate / plain_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.rounds))
