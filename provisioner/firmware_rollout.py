"""Telling phones to upgrade, paced, and handing them the image (issue 15, second part).

The hot path does no rendering and no I/O for this: the targets and images sit in memory (read
again when a ``firmware.*`` event is seen by the cache sync), and whether a config carries the
upgrade directive is a comparison of the version the phone reports in its User-Agent with its
target, plus a free slot. The two variants of a device's file (with and without the directive)
are each rendered once and cached (:meth:`ConfigCache.device_file`'s ``firmware_url``).

Pacing: at most ``max_concurrent`` phones per customer are told to upgrade at once. A slot is
taken when a phone is first told, and freed when it reports the target version, or after
``slot_timeout`` seconds (a phone that failed to upgrade tries again later). Slots are kept in
memory, per server node: with several nodes behind a balancer a customer may have up to
``max_concurrent`` upgrading per node.

Images are served from the firmware folder through a shared read-only ``mmap`` per image (the
page cache holds them, never a copy per request); HTTP sends them with aiohttp's FileResponse.
Their SHA-256 was checked when they were added, not per request.
"""

from __future__ import annotations

import asyncio
import mmap
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from .db import Store
from .firmware import target_version

log = structlog.get_logger("provisioner.firmware")

DEFAULT_MAX_CONCURRENT = 2
DEFAULT_SLOT_TIMEOUT = 1800.0
# The per-device file whose template carries each vendor's upgrade directive.
UPGRADE_TEMPLATES = {
    "yealink": "mac.cfg",
    "snom": "mac.xml",
    "polycom": "master.cfg",
    "grandstream": "cfg_mac.xml",
}
# Snom reads its firmware URL from a small XML file that firmware_status names.
SNOM_STATUS_FILE = "snom-firmware.xml"
# An image's URL path, below the device's own prefix (path key, token): it names the device, so the
# customer's rules apply to it exactly as to its config, and it cannot collide with a file name.
_PATH = re.compile(r"firmware/(?P<mac>[0-9A-Fa-f]{12})/(?P<version>[0-9A-Za-z][0-9A-Za-z._\-]{0,63})/(?P<file>[^/]+)")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_REMEMBERED = 200_000


@dataclass(frozen=True)
class Image:
    vendor: str
    version: str
    file_name: str
    models: frozenset[str]
    path: Path
    size: int


@dataclass(frozen=True)
class ImageRequest:
    key: str | None
    token: str | None
    mac: str  # canonical (upper case)
    version: str
    file_name: str


def parse_path(path: str) -> ImageRequest | None:
    """``[p/<key>/][d/<token>/]firmware/<mac>/<version>/<file>``, or None when it is not one."""
    rest = path.lstrip("/")
    key = token = None
    if rest.startswith("p/"):
        key, _, rest = rest[2:].partition("/")
    if rest.startswith("d/"):
        token, _, rest = rest[2:].partition("/")
    if not rest.startswith("firmware/"):
        return None
    if any(v is not None and not _SECRET.fullmatch(v) for v in (key, token)):
        return None
    m = _PATH.fullmatch(rest)
    if m is None or ".." in m["file"] or len(m["file"]) > 200:
        return None
    return ImageRequest(key, token, m["mac"].upper(), m["version"], m["file"])


def image_path(mac: str, version: str, file_name: str) -> str:
    """The path of an image for a device, relative to its provisioning URL."""
    return f"firmware/{mac.lower()}/{version}/{file_name}"


class Rollout:
    """Targets, images and the per-customer upgrade slots of this node."""

    def __init__(
        self,
        folder: Path,
        *,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        slot_timeout: float = DEFAULT_SLOT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.max_concurrent = max_concurrent
        self.slot_timeout = slot_timeout
        self.clock = clock
        # (vendor, model, customer_id or None) -> version
        self._targets: dict[tuple[str, str, int | None], str] = {}
        # (vendor, version, model) -> image; (vendor, version, file name) -> image
        self._by_model: dict[tuple[str, str, str], Image] = {}
        self._by_name: dict[tuple[str, str, str], Image] = {}
        self._maps: dict[Path, memoryview] = {}
        # customer_id -> {mac: (version, since)}
        self._slots: dict[int | None, dict[str, tuple[str, float]]] = {}
        # mac -> the version it last reported over HTTP (Polycom's updater does not say it)
        self._reported: OrderedDict[str, str] = OrderedDict()
        self.told = 0  # how many times a config carried the directive (tests and benchmarks read it)
        self.held_back = 0  # how many times a due phone got the config without it (no free slot)

    # --- the tables, from the store ----------------------------------------------------------

    def load(self, store: Store) -> None:
        """Read the images and targets (a worker thread; both tables are small)."""
        with store.reading() as tx:
            images, targets = tx.firmware_images(), tx.firmware_targets()
        by_model: dict[tuple[str, str, str], Image] = {}
        by_name: dict[tuple[str, str, str], Image] = {}
        for row in images:
            image = Image(
                row["vendor"],
                row["version"],
                row["file_name"],
                frozenset(row["models"].split(",")),
                self.folder / row["vendor"] / row["version"] / row["file_name"],
                row["size"],
            )
            by_name[(image.vendor, image.version, image.file_name.lower())] = image
            for model in image.models:
                by_model.setdefault((image.vendor, image.version, model), image)
        self._by_model, self._by_name = by_model, by_name
        self._targets = {(t["vendor"], t["model"], t["customer_id"]): t["version"] for t in targets}

    def watch(self, store: Store) -> Callable[[list[dict[str, Any]]], None]:
        """A listener for the cache's synced events: reload when a firmware event is among them."""

        def seen(events: list[dict[str, Any]]) -> None:
            if any(str(e.get("action") or "").startswith("firmware.") for e in events):
                task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.load, store))
                task.add_done_callback(_log_failure)

        return seen

    # --- the decision, per request ----------------------------------------------------------

    @property
    def active(self) -> bool:
        """Some target is set: a phone's config may carry a directive (else :meth:`due` is None)."""
        return bool(self._targets)

    def target(self, vendor: str, model: str, customer_id: int | None) -> Image | None:
        version = target_version(self._targets, vendor, model, customer_id)
        if version is None:
            return None
        return self._by_model.get((vendor, version, model))

    def due(self, mac: str, vendor: str, model: str, customer_id: int | None, reported: str | None) -> Image | None:
        """The image to tell this phone to fetch now, or None (no target, up to date, version unknown,
        or every slot of its customer taken: it gets the config without the directive)."""
        if not self._targets:
            return None
        if reported is not None:
            _remember(self._reported, mac, reported)
        else:
            reported = self._reported.get(mac)
        image = self.target(vendor, model, customer_id)
        slots = self._slots.get(customer_id)
        if image is None or reported is None or reported == image.version:
            if slots is not None and slots.pop(mac, None) is not None:
                log.info("firmware_upgraded" if image else "firmware_slot_freed", mac=mac, version=reported)
            return None
        if slots is None:
            slots = self._slots[customer_id] = {}
        now = self.clock()
        held = slots.get(mac)
        if held is not None and held[0] == image.version and now - held[1] < self.slot_timeout:
            self.told += 1
            return image
        for other, (_version, since) in list(slots.items()):
            if now - since >= self.slot_timeout:
                del slots[other]
                log.info("firmware_slot_timed_out", mac=other, customer_id=customer_id)
        if mac not in slots and len(slots) >= self.max_concurrent:
            self.held_back += 1
            return None
        slots[mac] = (image.version, now)
        self.told += 1
        log.info("firmware_upgrade_told", mac=mac, reported=reported, target=image.version)
        return image

    def upgrading(self, customer_id: int | None = None) -> dict[str, str]:
        """MAC -> version of the phones holding a slot (of one customer, or all), timed-out ones left out."""
        now = self.clock()
        groups = self._slots.values() if customer_id is None else [self._slots.get(customer_id, {})]
        return {m: v for g in groups for m, (v, since) in g.items() if now - since < self.slot_timeout}

    def slots_now(self) -> list[tuple[int | None, str, str, float]]:
        """(customer_id, MAC, version, seconds since it was told) of every phone holding a slot now,
        timed-out ones left out: a snapshot to take on the event loop (the slots change there)."""
        now = self.clock()
        return [
            (customer_id, mac, version, now - since)
            for customer_id, group in self._slots.items()
            for mac, (version, since) in group.items()
            if now - since < self.slot_timeout
        ]

    # --- the image --------------------------------------------------------------------------

    def image(self, vendor: str, version: str, file_name: str) -> Image | None:
        return self._by_name.get((vendor, version, file_name.lower()))

    def content(self, image: Image) -> memoryview:
        """The image's bytes, mapped once per image and shared by every transfer (TFTP reads it
        block by block; nothing is copied per session)."""
        view = self._maps.get(image.path)
        if view is None:
            with image.path.open("rb") as f:
                view = self._maps[image.path] = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        return view


def snom_status(image_url: str) -> bytes:
    """The firmware XML a Snom's ``firmware_status`` names: where the image is."""
    from markupsafe import escape

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<firmware-settings>\n'
        f'  <firmware perm="R">{escape(image_url)}</firmware>\n</firmware-settings>\n'
    ).encode()


def _remember(mapping: OrderedDict[str, str], key: str, value: str) -> None:
    if key in mapping:
        mapping.move_to_end(key)
    elif len(mapping) >= MAX_REMEMBERED:
        mapping.popitem(last=False)
    mapping[key] = value


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("firmware_reload_failed", error=str(task.exception()))
