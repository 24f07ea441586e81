"""Turning a device's data into the bytes its phone wants.

The generic template context (same for every vendor) is built here from plain
records; the vendor module adds what its own format needs. Templates are looked
up in the deployment's folder first, then in the shipped ``vendor_templates/``
(see :func:`shipped_templates`); inside each, ``<vendor>/<MODEL>/<file>`` before
``<vendor>/<file>``.

Escaping follows the file's format: XML templates autoescape; plain-text
templates (Yealink ``key = value``) refuse any value with a line break, because
it would start a new key.
"""

from __future__ import annotations

import operator
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.nodes
import markupsafe

from . import polling, timezones
from .access import Policy
from .errors import RenderError
from .vendors import Vendor


def shipped_templates() -> Path:
    """The templates that ship with provisioner.

    An installed wheel carries them as package data, ``provisioner/vendor_templates``
    (setup.py maps the repository's top-level folder there). A checkout, or an editable
    install, has no such folder in the package: the templates are the repository's own
    ``vendor_templates/``, beside it, where they are edited.
    """
    packaged = resources.files(__package__) / "vendor_templates"
    if packaged.is_dir():
        # Installed packages live on the file system (pip never installs a zipped wheel), and
        # the cache watches these files' mtimes, so a real path is wanted.
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "vendor_templates"


SHIPPED_TEMPLATES = shipped_templates()

_LINE_BREAK = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- the records a render needs -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """One SIP account as it goes on the phone (slot ``index``, from 1)."""

    index: int
    extension: str
    display_name: str
    label: str
    sip_username: str
    auth_id: str
    password: str
    server: str
    port: int
    transport: str  # "udp" | "tcp" | "tls"
    voicemail: str | None = None  # the number the message key dials; None: no voicemail, no MWI

    @property
    def srtp(self) -> bool:
        """Media encrypted (SRTP) whenever the signalling is (TLS)."""
        return self.transport == "tls"

    def texts(self) -> list[str]:
        """Its text fields' values (the vendors check them for characters their format cannot carry)."""
        return [v for v in _account_values(self) if isinstance(v, str)]


_account_values = operator.attrgetter(*Account.__slots__)  # every field's value, in one C call


@dataclass(frozen=True, slots=True)
class Contact:
    """One phonebook entry as the phone lists it: the customer's extensions (group None) and its
    contacts (``provisioner phonebook add``)."""

    name: str
    number: str
    group: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceData:
    """Everything about one device that can change its files."""

    mac: str  # canonical, uppercase
    vendor: str
    model: str
    customer_code: str | None
    customer_name: str | None
    timezone: str
    language: str
    ntp_server: str
    accounts: tuple[Account, ...]
    deprovisioned: bool = False
    settings: Mapping[str, str] = field(default_factory=dict)
    # The instant (UTC) these data stop being true without any write (a contract end): load again after.
    valid_until: datetime | None = None
    # Phone-facing security (provisioner.access): the customer's rules, and what the device's token
    # and first-contact window derive from.
    policy: Policy | None = None
    customer_id: int | None = None
    assigned_at: datetime | None = None
    window_closed_at: datetime | None = None
    # The baseline every phone gets from its customer: admin password (None: the phone keeps its
    # own), tone country, codec order (empty: the phone's own), check-time defaults (a device
    # setting of the same name wins).
    admin_password: str | None = None
    country: str = "IT"
    codecs: tuple[str, ...] = ()
    check_defaults: Mapping[str, str] = field(default_factory=dict)
    # The customer's phonebook (extensions first, then contacts); empty when deprovisioned.
    phonebook: tuple[Contact, ...] = ()
    # Programmable keys as the phone gets them (provisioner.key_layout.effective): dicts with
    # module, position, type, value, label, line; empty when deprovisioned.
    keys: tuple[Mapping[str, Any], ...] = ()


# Variables a device's ``settings`` may override by name; any other key is a
# vendor-native setting passed through to the template as ``overrides``.
LAYERED_VARIABLES = ("timezone", "language", "ntp_server", *polling.VARIABLES)


# How often (seconds) a phone fetches its phonebook again, unless the server is told otherwise
# (--phonebook-refresh, PROVISIONER_PHONEBOOK_REFRESH).
PHONEBOOK_REFRESH = 3600


def device_context(
    vendor: Vendor, data: DeviceData, provisioning_url: str, *, phonebook_refresh: int = PHONEBOOK_REFRESH
) -> dict[str, Any]:
    """The template context for a per-device file.

    Keys every template can use:

    - ``vendor``, ``model``, ``mac`` (``001565ABCDEF``), ``mac_lower``, ``caps``
    - ``accounts``: list of :class:`Account` (at most ``caps.accounts``), empty
      when ``deprovisioned``
    - ``account_slots``: 1..caps.accounts, to disable the slots not in use
    - ``deprovisioned``: the phone must get every account disabled, no credentials
    - ``customer``: ``{"code", "name"}`` or None
    - ``timezone`` (:class:`timezones.TimeZone`), ``language`` ("it"), ``ntp_server``
    - ``provisioning_url``: base URL ending in "/"
    - ``overrides``: vendor-native key -> value from the device's settings
    - ``admin_password``: the phones' web UI and menu password, or None (not written; also None
      when deprovisioned); ``country`` ("IT": tones); ``codecs`` (["g722", "pcma"], empty: the
      phone's own); each account's ``voicemail`` and ``srtp`` (TLS lines)
    - ``phonebook``: list of :class:`Contact` (empty when deprovisioned); ``phonebook_url``: where
      this phone fetches it (its own ``<mac>-phonebook.xml`` under ``provisioning_url``, so the
      customer's path key, token and credentials apply); ``phonebook_refresh`` (seconds);
      ``phonebook_groups``: [(group or None, [Contact])], the ungrouped (extensions) first
    - plus what ``vendor.extend_context`` adds
    """
    caps = vendor.caps(data.model)
    settings = data.settings
    if settings:
        variables: Mapping[str, Any] = ChainMap(
            {k: v for k, v in settings.items() if k in LAYERED_VARIABLES},
            {"timezone": data.timezone, "language": data.language, "ntp_server": data.ntp_server},
        )
        overrides = {k: v for k, v in settings.items() if k not in LAYERED_VARIABLES}
        check_settings: Mapping[str, str] = ChainMap(dict(settings), dict(data.check_defaults))
    else:  # most phones: no device settings, nothing to layer
        variables = {"timezone": data.timezone, "language": data.language, "ntp_server": data.ntp_server}
        overrides = {}
        check_settings = data.check_defaults
    accounts = [] if data.deprovisioned else list(data.accounts[: caps.accounts])
    ctx: dict[str, Any] = {
        "vendor": vendor.name,
        "model": data.model,
        "mac": data.mac,
        "mac_lower": data.mac.lower(),
        "caps": caps,
        "accounts": accounts,
        "account_slots": list(range(1, caps.accounts + 1)),
        "deprovisioned": data.deprovisioned,
        "customer": (
            {"code": data.customer_code, "name": data.customer_name or ""}
            if data.customer_code and not data.deprovisioned
            else None
        ),
        "timezone": timezones.lookup(variables["timezone"]),
        "language": variables["language"],
        "ntp_server": variables["ntp_server"],
        "provisioning_url": provisioning_url,
        "overrides": overrides,
        # When the phone checks on its own: its device settings, else its customer's defaults.
        "check": polling.schedule(data.mac, check_settings),
        "admin_password": None if data.deprovisioned else data.admin_password,
        "country": data.country,
        "codecs": list(data.codecs),
        # The customer's phonebook is one tuple shared by all its phones: neither copied nor
        # grouped again per render (a 10,000-phone customer would make each render O(customer)).
        "phonebook": () if data.deprovisioned else data.phonebook,
        "phonebook_groups": [] if data.deprovisioned else _groups(data.phonebook),
        "phonebook_url": f"{provisioning_url}{data.mac.lower()}-phonebook.xml",
        "phonebook_refresh": phonebook_refresh,
        # Programmable keys (provisioner.function_keys); key_positions: the phone's own key places
        # they take, which the default one-key-per-account layout leaves free.
        "function_keys": [] if data.deprovisioned else [dict(k) for k in data.keys],
        "key_positions": set() if data.deprovisioned else {k["position"] for k in data.keys if k["module"] == 0},
    }
    ctx.update(vendor.extend_context(ctx))
    return ctx


# The last phonebook grouped and its groups: a batch of a customer's phones shares one tuple.
_last_groups: tuple[tuple[Contact, ...], list[tuple[str | None, list[Contact]]]] = ((), [])


def _groups(contacts: tuple[Contact, ...]) -> list[tuple[str | None, list[Contact]]]:
    """(group, contacts) in the phonebook's order, the ungrouped ones (extensions first) as None."""
    global _last_groups
    last = _last_groups
    if last[0] is contacts:
        return last[1]
    grouped = _group(contacts)
    _last_groups = (contacts, grouped)
    return grouped


def _group(contacts: tuple[Contact, ...]) -> list[tuple[str | None, list[Contact]]]:
    groups: dict[str | None, list[Contact]] = {}
    for c in contacts:
        groups.setdefault(c.group, []).append(c)
    return sorted(groups.items(), key=lambda item: (item[0] is not None, item[0] or ""))


def common_context(
    vendor: Vendor,
    provisioning_url: str,
    *,
    model: str | None = None,
    timezone: str = "Europe/Rome",
    language: str = "en",
    ntp_server: str = "pool.ntp.org",
) -> dict[str, Any]:
    """The context for a common (not per-device) file: no MAC, no accounts."""
    caps = vendor.models.get(model) if model else None
    ctx: dict[str, Any] = {
        "vendor": vendor.name,
        "model": model,
        "mac": None,
        "mac_lower": None,
        "caps": caps,
        "accounts": [],
        "account_slots": [],
        "deprovisioned": False,
        "customer": None,
        "timezone": timezones.lookup(timezone),
        "language": language,
        "ntp_server": ntp_server,
        "provisioning_url": provisioning_url,
        "overrides": {},
        "admin_password": None,  # never in a common file
        "country": None,
        "codecs": [],
        "function_keys": [],
        "key_positions": set(),
    }
    ctx.update(vendor.extend_context(ctx))
    return ctx


# --- templates ------------------------------------------------------------------


_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _refuse_xml_illegal(value: Any) -> Any:
    """XML 1.0 cannot carry most control characters; a phone's parser would reject the file."""
    if isinstance(value, str) and _XML_ILLEGAL.search(value):
        raise RenderError("a value holds a control character XML cannot carry")
    return "" if value is None else value


def _refuse_line_breaks(value: Any) -> Any:
    if isinstance(value, str) and (_LINE_BREAK.search(value) or _CONTROL.search(value)):
        raise RenderError("a value holds a line break or control character")
    return "" if value is None else value


# What Jinja2 does to each ``{{ value }}`` of a template, ``escape(finalize(value))`` (XML) or
# ``str(finalize(value))`` (text), as one call that gives the same text: a plain string or an int
# (nearly every value) costs a check and markupsafe's C escaping, with no Markup object made;
# anything else (None, Markup, Undefined, other types) goes the general way. Every character the
# checks refuse is one ``str.isprintable`` rejects, so a printable string skips the regexes.
_escape_inner = getattr(markupsafe, "_escape_inner", None)


def _xml_value(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        if not value.isprintable() and _XML_ILLEGAL.search(value):
            raise RenderError("a value holds a control character XML cannot carry")
        return _escape_inner(value) if _escape_inner is not None else str(markupsafe.escape(value))
    if cls is int:
        return str(value)
    return markupsafe.escape(_refuse_xml_illegal(value))


def _text_value(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        if not value.isprintable() and (_LINE_BREAK.search(value) or _CONTROL.search(value)):
            raise RenderError("a value holds a line break or control character")
        return value
    if cls is int:
        return str(value)
    return str(_refuse_line_breaks(value))


class _OutputCompiler(jinja2.compiler.CodeGenerator):
    """Compiles ``{{ value }}`` to a printable string written inline, else
    ``environment.escaped_value(value)`` (autoescape on) or ``environment.plain_value(value)`` (off),
    instead of ``escape(environment.finalize(value))``; and ``x.name`` to the builtin ``getattr``
    before Jinja2's.

    And a template without ``{% extends %}`` collects its text in a list and yields it once, joined:
    Jinja2 yields every piece of text and every value on its own (~400 generator resumes for a
    phone's file), where a buffered frame (as in a macro) adds each run of them with one
    ``list.extend``. The root function stays a generator, so Jinja2's own callers (``render``,
    ``{% include %}``) take it as before; only the number of pieces changes, not the text.
    """

    _buffer_root = False

    def visit_Template(self, node: Any, frame: Any = None) -> None:
        # With {% extends %} the root's output is checked and may give way to the parent's: left as Jinja2 writes it.
        self._buffer_root = node.find(jinja2.nodes.Extends) is None
        super().visit_Template(node, frame)

    def blockvisit(self, nodes: Any, frame: Any) -> None:
        if not (self._buffer_root and frame.rootlevel and frame.buffer is None):
            super().blockvisit(nodes, frame)
            return
        self._buffer_root = False  # the root function's body only, once
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = []")
        super().blockvisit(nodes, frame)
        self.writeline(f"yield concat({frame.buffer})")

    def write_commons(self) -> None:
        super().write_commons()
        # What the expressions below call, as locals of each root and block function (macros and
        # callers are functions inside them).
        self.writeline("p_escape = environment.escape_str")
        self.writeline("p_escaped = environment.escaped_value")
        self.writeline("p_plain = environment.plain_value")

    # A printable str (most values) is written inline, with no Python call: escaped by markupsafe's C
    # function (XML), or as it is (text); anything else goes to escaped_value/plain_value. The same
    # text either way: str.isprintable rejects every character those refuse (_xml_value, _text_value).
    def _output_child_pre(self, node: Any, frame: Any, finalize: Any) -> None:
        if frame.eval_ctx.volatile:
            super()._output_child_pre(node, frame, finalize)
        elif frame.eval_ctx.autoescape:
            self.write("(p_escape(p_o) if (p_o := ")
        else:
            self.write("(p_o if (p_o := ")

    def _output_child_post(self, node: Any, frame: Any, finalize: Any) -> None:
        if frame.eval_ctx.volatile:
            super()._output_child_post(node, frame, finalize)
        elif frame.eval_ctx.autoescape:
            self.write(").__class__ is str and p_o.isprintable() else p_escaped(p_o))")
        else:
            self.write(").__class__ is str and p_o.isprintable() else p_plain(p_o))")

    # ``x.name``: the builtin getattr with a default (no Python call), and Jinja2's own getattr (an
    # item of that name, else undefined) only when the object has no such attribute.
    @jinja2.compiler.optimizeconst
    def visit_Getattr(self, node: Any, frame: Any) -> None:
        if self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        self.write("(p_a if (p_a := getattr((p_g := ")
        self.visit(node.node, frame)
        self.write(f"), {node.attr!r}, missing)) is not missing else environment.getattr(p_g, {node.attr!r}))")


class _Environment(jinja2.Environment):
    code_generator_class = _OutputCompiler

    def __init__(self, *, finalize: Callable[[Any], Any], **kw: Any):
        super().__init__(finalize=finalize, **kw)
        # The general forms, for a block that turns autoescape the other way than the environment.
        self.escaped_value: Callable[[Any], str] = lambda value: markupsafe.escape(finalize(value))
        self.plain_value: Callable[[Any], str] = lambda value: str(finalize(value))
        # A printable str escaped, as markupsafe.escape would (without making a Markup).
        self.escape_str: Callable[[str], str] = (
            _escape_inner if _escape_inner is not None else lambda value: str(markupsafe.escape(value))
        )


def environment_options(override: Path | None, shipped: Path) -> dict[str, Any]:
    """Both environments' Jinja2 options but escaping and finalize."""
    return dict(
        loader=jinja2.FileSystemLoader([str(p) for p in (override, shipped) if p]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


class Renderer:
    """Jinja2 environments over the override folder then the shipped one."""

    def __init__(self, override: Path | None = None, shipped: Path = SHIPPED_TEMPLATES):
        self.override = override
        self.shipped = shipped
        common = environment_options(override, shipped)
        self._chosen: dict[tuple[str, str | None, str, bool], tuple[jinja2.Template, dict[str, Any]]] = {}
        self._xml = _Environment(autoescape=True, finalize=_refuse_xml_illegal, **common)
        self._xml.escaped_value = _xml_value
        self._text = _Environment(autoescape=False, finalize=_refuse_line_breaks, **common)
        self._text.plain_value = _text_value

    def template_for(self, vendor: str, template: str, model: str | None, xml: bool) -> jinja2.Template:
        return self._template(vendor, template, model, xml)[0]

    def _template(
        self, vendor: str, template: str, model: str | None, xml: bool
    ) -> tuple[jinja2.Template, dict[str, Any]]:
        """The template and its globals as a plain dict (Template.globals is a ChainMap: slow to
        iterate at every render). Remembered per (vendor, model, file): a miss on the model folder
        costs a stat per search path."""
        key = (vendor, model, template, xml)
        found = self._chosen.get(key)
        if found is None:
            env = self._xml if xml else self._text
            names = ([f"{vendor}/{model}/{template}"] if model else []) + [f"{vendor}/{template}"]
            tmpl = env.select_template(names)
            found = self._chosen[key] = (tmpl, dict(tmpl.globals))
        return found

    def render(self, vendor: str, template: str, context: Mapping[str, Any], xml: bool) -> bytes:
        try:
            tmpl, template_globals = self._template(vendor, template, context.get("model"), xml)
            # Template.render(context) without its copy of the context (new_context makes one) and
            # its traceback rewriting (an error here becomes a RenderError that names no line).
            # One merge of the template's globals under the variables, as new_context(context) does
            # it with dict(globals, **context): two copies.
            variables = {**template_globals, **context}
            text = tmpl.environment.concat(tmpl.root_render_func(tmpl.new_context(variables, shared=True)))
        except RenderError:
            raise
        except jinja2.TemplateNotFound:
            raise RenderError(f"template not found: {vendor}/{template}") from None
        except jinja2.TemplateError as exc:
            # The message names the template and the problem, never a value.
            raise RenderError(
                f"template {vendor}/{template} failed: {type(exc).__name__}: {_safe_message(exc)}"
            ) from None
        return text.encode("utf-8")

    def clear(self) -> None:
        """Forget compiled templates (after a template file changed)."""
        self._chosen.clear()
        for env in (self._xml, self._text):
            if env.cache is not None:
                env.cache.clear()


def _safe_message(exc: Exception) -> str:
    message = str(exc)
    # StrictUndefined messages name a variable, never its value; anything else is cut short.
    return message[:200]
