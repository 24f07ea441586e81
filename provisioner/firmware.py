"""Firmware images, the version each model should run, and what the phones report.

An image is copied (streamed, never read whole into memory) into the firmware folder as
``<vendor>/<version>/<file name>``, checksummed (SHA-256) and bounded in size; a failed or refused
copy leaves nothing behind. Targets say which version a model's phones should run, for every
customer or for one (which wins). The version a phone runs is the one its User-Agent reported
at its last fetch (``devices.firmware``, written by the activity flush).

Telling phones to upgrade, pacing and serving the images: :mod:`provisioner.firmware_rollout`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import vendors
from .changes import find_customer
from .db import Store, Tx
from .errors import Invalid, NotFound

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._\-]{0,63}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,199}")


def _models(vendor_name: str, models: str) -> tuple[str, list[str]]:
    try:
        vendor = vendors.get(vendor_name)
    except KeyError as exc:
        raise Invalid(str(exc.args[0]), field="vendor") from None
    keys = []
    for raw in [m for m in (models or "").split(",") if m.strip()]:
        found = vendors.vendor_for_model(raw.strip(), vendor.name)
        if found is None:
            raise Invalid(
                f"{raw.strip()!r} is not a {vendor.name} model (known: {', '.join(vendor.models)})", field="model"
            )
        keys.append(found[1])
    if not keys:
        raise Invalid("name at least one model (--model T46U,T48U)", field="model")
    return vendor.name, list(dict.fromkeys(keys))


def _version(value: str) -> str:
    value = (value or "").strip()
    if not _VERSION.fullmatch(value):
        raise Invalid(
            f"version {value!r} must be letters, digits, dots, dashes (as the phone reports it, e.g. 108.86.0.20)",
            field="version",
        )
    return value


def add(
    store: Store,
    actor: str,
    source: Path,
    *,
    folder: Path,
    vendor: str,
    models: str,
    version: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """Store the image at ``source`` for ``vendor``'s ``models`` (comma-separated) as ``version``."""
    vendor_name, model_keys = _models(vendor, models)
    version = _version(version)
    name = source.name
    if not _FILE_NAME.fullmatch(name):
        raise Invalid(
            f"file name {name!r}: use letters, digits, dots and dashes only (phones ask for it by name)", field="file"
        )
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise Invalid(f"cannot read {name}: {exc.strerror or exc}", field="file") from None
    if size == 0:
        raise Invalid(f"{name} is empty", field="file")
    if size > max_bytes:
        raise Invalid(
            f"{name} is {size:,} bytes, over the {max_bytes:,}-byte limit (--firmware-max-bytes)", field="file"
        )
    target_dir = folder / vendor_name / version
    target = target_dir / name
    if target.exists():
        raise Invalid(f"{vendor_name} {version} already has an image named {name}", field="file")
    target_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    copied = 0
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target_dir)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as inp:
            while chunk := inp.read(1024 * 1024):
                copied += len(chunk)
                if copied > max_bytes:  # grew while copying
                    raise Invalid(f"{name} is over the {max_bytes:,}-byte limit", field="file")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        values = {
            "vendor": vendor_name,
            "models": ",".join(model_keys),
            "version": version,
            "file_name": name,
            "sha256": digest.hexdigest(),
            "size": copied,
        }
        with store.transaction() as tx:
            image_id = tx.insert_firmware(values)
            tx.add_event(
                actor=actor,
                action="firmware.added",
                summary=f"{vendor_name} firmware {version} ({name}) for {', '.join(model_keys)}",
                after=values,
            )
        shutil.move(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"id": image_id, **values, "path": str(target)}


def images(store: Store) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return tx.firmware_images()


def set_target(
    store: Store, actor: str, *, model: str, version: str, customer: str | None = None, vendor: str | None = None
) -> dict[str, Any]:
    """The version ``model``'s phones should run (of one customer, or of all); an image must exist."""
    found = vendors.vendor_for_model(model, vendor)
    if found is None:
        raise Invalid(f"{model!r} is not a model we know", field="model")
    vendor_obj, model_key = found
    version = _version(version)
    with store.transaction() as tx:
        customer_row = find_customer(tx, customer) if customer else None
        if not any(
            i["version"] == version and model_key in i["models"].split(",") for i in tx.firmware_images(vendor_obj.name)
        ):
            raise NotFound(
                f"no {vendor_obj.name} image of version {version} for {model_key}: add it first with "
                f"`provisioner firmware add FILE --vendor {vendor_obj.name} --model {model_key} "
                f"--version {version}`",
                field="version",
            )
        customer_id = customer_row["id"] if customer_row else None
        before = tx.set_firmware_target(vendor_obj.name, model_key, version, customer_id)
        scope = customer_row["code"] if customer_row else "every customer"
        tx.add_event(
            actor=actor,
            action="firmware.target",
            customer_id=customer_id,
            summary=f"{model_key} phones of {scope} should run {version}",
            before={"version": before["version"]} if before else None,
            after={"vendor": vendor_obj.name, "model": model_key, "version": version},
        )
    return {
        "vendor": vendor_obj.name,
        "model": model_key,
        "version": version,
        "customer": customer_row["code"] if customer_row else None,
    }


def target_version(
    targets: Mapping[tuple[str, str, int | None], str], vendor: str, model: str, customer_id: int | None
) -> str | None:
    """The version a device should run: its customer's target for its model, else the one for every
    customer, else None. ``targets`` maps (vendor, model, customer_id or None) to a version. The one
    rule: the phone path (:class:`provisioner.firmware_rollout.Rollout`), ``device show`` and the
    ``devices firmware`` report all ask it."""
    version = targets.get((vendor, model, customer_id)) if customer_id is not None else None
    return version if version is not None else targets.get((vendor, model, None))


def upgrade_due(reported: str | None, target: str | None) -> bool:
    """Whether a phone should be told to upgrade: it reported a version and it is not its target (a
    phone that never reported one is not judged)."""
    return bool(target and reported and reported != target)


def device_status(tx: Tx, device: Mapping[str, Any]) -> dict[str, Any]:
    """A device's firmware: the version it reported, its target and whether an upgrade is due."""
    wanted = {(t["vendor"], t["model"], t["customer_id"]): t["version"] for t in tx.firmware_targets()}
    target = target_version(wanted, device["vendor"], device["model"], device["customer_id"])
    reported = device.get("firmware")
    return {"firmware": reported, "firmware_target": target, "firmware_upgrade_due": upgrade_due(reported, target)}


def targets(store: Store) -> list[dict[str, Any]]:
    with store.reading() as tx:
        codes = {c["id"]: c["code"] for c in tx.list_customers()}
        return [{**t, "customer": codes.get(t["customer_id"])} for t in tx.firmware_targets()]


def report(store: Store, customer: str | None = None) -> list[dict[str, Any]]:
    """(vendor, model, version reported, count, target, due) of the devices, of one customer or all
    (for all, the target is the one for every customer; a customer's own target shows with --customer)."""
    with store.reading() as tx:
        customer_id = find_customer(tx, customer)["id"] if customer else None
        rows = tx.firmware_report(customer_id)
        wanted = {(t["vendor"], t["model"], t["customer_id"]): t["version"] for t in tx.firmware_targets()}
    for row in rows:
        row["target"] = target_version(wanted, row["vendor"], row["model"], customer_id)
        # Due: it reported a version and it is not the target (the server tells it, a few at a time).
        row["due"] = row["count"] if upgrade_due(row["firmware"], row["target"]) else 0
    return rows


def upgrading(store: Store, slots: Sequence[tuple[int | None, str, str, float]]) -> list[dict[str, Any]]:
    """The phones this node is letting upgrade now, per customer (code and name; None: no customer),
    from :meth:`provisioner.firmware_rollout.Rollout.slots_now`: MAC, target version, since when (UTC)."""
    now = datetime.now(UTC)
    by_customer: dict[int | None, list[dict[str, Any]]] = {}
    for customer_id, mac, version, age in sorted(slots, key=lambda s: (-s[3], s[1])):
        since = (now - timedelta(seconds=age)).replace(microsecond=0)
        by_customer.setdefault(customer_id, []).append({"mac": mac, "version": version, "since": since.isoformat()})
    with store.reading() as tx:
        customers = {cid: tx.customer_by_id(cid) if cid is not None else None for cid in by_customer}
    out = []
    for cid, phones in by_customer.items():
        customer = customers[cid]
        out.append(
            {
                "customer": customer["code"] if customer else None,
                "customer_name": customer["name"] if customer else None,
                "upgrading": len(phones),
                "phones": phones,
            }
        )
    return sorted(out, key=lambda c: c["customer"] or "")
