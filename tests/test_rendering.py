"""The renderer writes each ``{{ value }}`` in one call (check + escape) instead of Jinja2's
``escape(finalize(value))``: the same bytes as stock Jinja2 for every vendor's files, fewer calls."""

from __future__ import annotations

import jinja2
import markupsafe
import pytest

from provisioner import vendors
from provisioner.errors import RenderError
from provisioner.rendering import (
    SHIPPED_TEMPLATES,
    Account,
    Contact,
    DeviceData,
    Renderer,
    _refuse_line_breaks,
    _refuse_xml_illegal,
    device_context,
    environment_options,
)
from provisioner.vendors import FileKind

URL = "http://prov.example.net:8080/"
MODELS = {"yealink": "T48S", "snom": "D785", "polycom": "VVX450", "grandstream": "GXP2170"}
MACS = {"yealink": "001565ABCDEF", "snom": "000413AABBCC", "polycom": "0004F2ABCDEF", "grandstream": "000B82ABCDEF"}


def device(vendor: str, deprovisioned: bool = False) -> DeviceData:
    accounts = (
        Account(
            1,
            "201",
            "Rossi & Figli <Reception>",
            "Recep'tion",
            "201",
            "auth201",
            'pa&ss<1>="x"',
            "pbx.example.net",
            5060,
            "udp",
            "*97",
        ),
        Account(2, "202", "Niccolò Università", "Niccolò", "202", "a202", "sécret", "pbx2.example.net", 5061, "tls"),
    )
    keys = (
        {"module": 0, "position": 3, "type": "blf", "value": "203", "label": "Bob & <Al>", "line": 1},
        {"module": 0, "position": 4, "type": "speed-dial", "value": "0612345", "label": None, "line": 2},
    )
    return DeviceData(
        mac=MACS[vendor],
        vendor=vendor,
        model=MODELS[vendor],
        customer_code="C001",
        customer_name='Rossi "& Figli"',
        timezone="Europe/Rome",
        language="it",
        ntp_server="ntp.example.net",
        accounts=accounts,
        deprovisioned=deprovisioned,
        admin_password="adm<&>in",
        country="DE",
        codecs=("g722", "pcma"),
        phonebook=(Contact("Pizza & Co", "0612"), Contact("Fornitore <X>", "0298", "Suppliers")),
        keys=keys,
    )


def stock(xml: bool) -> jinja2.Environment:
    """Jinja2 as it comes: escape(finalize(value)) per value."""
    finalize = _refuse_xml_illegal if xml else _refuse_line_breaks
    return jinja2.Environment(autoescape=xml, finalize=finalize, **environment_options(None, SHIPPED_TEMPLATES))


@pytest.mark.parametrize("vendor", sorted(MODELS))
@pytest.mark.parametrize("deprovisioned", [False, True])
def test_every_device_file_is_what_stock_jinja2_writes(vendor, deprovisioned):
    v = vendors.get(vendor)
    renderer = Renderer()
    specs = [s for s in v.files if s.kind is FileKind.DEVICE and s.template]
    assert specs
    for spec in specs:
        for firmware_url in (None, "http://fw.example.net/a&b.rom"):
            ctx = device_context(v, device(vendor, deprovisioned), URL)
            ctx["firmware_url"] = firmware_url
            ours = renderer.render(vendor, spec.template, ctx, spec.xml)
            theirs = stock(spec.xml).get_template(f"{vendor}/{spec.template}").render(ctx).encode()
            assert ours == theirs, (vendor, spec.template)
            assert len(ours) > 50


def test_values_are_written_without_finalize_or_markup_per_value(monkeypatch):
    """A string or int value is checked and escaped in one call: Jinja2's finalize is not called."""
    renderer = Renderer()
    calls = []
    for env in (renderer._xml, renderer._text):
        original = env.finalize
        monkeypatch.setattr(env, "finalize", lambda value, original=original: calls.append(value) or original(value))
    ctx = device_context(vendors.get("snom"), device("snom"), URL)
    body = renderer.render("snom", "mac.xml", ctx, True)
    assert b"Rossi &amp; Figli &lt;Reception&gt;" in body and b"pa&amp;ss&lt;1&gt;=&#34;x&#34;" in body
    ctx = device_context(vendors.get("yealink"), device("yealink"), URL)
    body = renderer.render("yealink", "mac.cfg", ctx, False)
    assert b'account.1.password = pa&ss<1>="x"' in body
    assert calls == []


@pytest.mark.parametrize(
    ("value", "xml", "wanted"),
    [
        ("a & <b> \"c\" 'd'", True, "a &amp; &lt;b&gt; &#34;c&#34; &#39;d&#39;"),
        ("a & <b>", False, "a & <b>"),
        ("tab\there", True, "tab\there"),
        ("Zoë\u00a0x", True, "Zoë\u00a0x"),
        (None, True, ""),
        (None, False, ""),
        (7, True, "7"),
        (True, False, "True"),
        (markupsafe.Markup("<b>"), True, "<b>"),
    ],
)
def test_one_value(tmp_path, value, xml, wanted):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "t").write_text("[{{ value }}]")
    assert Renderer(override=tmp_path).render("v", "t", {"value": value}, xml) == f"[{wanted}]".encode()


@pytest.mark.parametrize(
    ("value", "xml"),
    [("a\x01b", True), ("a\ufffeb", True), ("a\nb", False), ("a\u2028b", False), ("a\x7fb", False), ("a\rb", False)],
)
def test_bad_values_are_refused(tmp_path, value, xml):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "t").write_text("[{{ value }}]")
    with pytest.raises(RenderError, match="control character"):
        Renderer(override=tmp_path).render("v", "t", {"value": value}, xml)


def test_autoescape_blocks_either_way(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "t").write_text(
        "{{ v }}|{% autoescape false %}{{ v }}{% endautoescape %}|{% autoescape true %}{{ v }}{% endautoescape %}"
    )
    renderer = Renderer(override=tmp_path)
    assert renderer.render("v", "t", {"v": "<&>"}, True) == b"&lt;&amp;&gt;|<&>|&lt;&amp;&gt;"
    assert renderer.render("v", "t", {"v": "<&>"}, False) == b"<&>|<&>|&lt;&amp;&gt;"


TEMPLATE_FORMS = {
    "v/base": "<{% block head %}h{{ v }}{% endblock %}|{% block body %}{% endblock %}>",
    "v/part": "[{{ v }}{% for i in items %}{{ i }}{% endfor %}]",
    "v/forms": (
        "{% macro m(x) %}({{ x }}{{ caller() if caller is defined else '' }}){% endmacro %}"
        "{{ m(v) }}{% call m(v) %}c{{ v }}{% endcall %}"
        "{% set s %}{{ v }}{{ v }}{% endset %}{{ s }}"
        "{% filter upper %}{{ v }}x{% endfilter %}"
        "{% include 'v/part' %}"
        "{% for i in items %}{% if loop.first %}F{% endif %}{{ i }}{% else %}none{% endfor %}"
        "{% block b %}B{{ v }}{% endblock %}{{ self.b() }}"
    ),
    "v/child": "{% extends 'v/base' %}{% block body %}b{{ v }}{{ super() }}{% endblock %}",
    "v/child2": "{% extends 'v/base' %}{% block head %}{{ super() }}!{% endblock %}",
    # x.name: an attribute, else an item of that name; values of every type.
    "v/attrs": (
        "{{ d.k }}|{{ d.none }}|{{ d.zero }}|{{ a.label }}|{{ a.port }}|{{ a.srtp }}|{{ n.real }}|{{ d.sub.k }}"
        "|{{ d.k.upper() }}|{{ (d.k ~ a.label) }}|{{ 'x' if d.zero else 'y' }}|{{ m }}|{{ b }}|{{ f }}|{{ d.list }}"
        "{% for x in d.list %}{{ loop.index }}{{ x.k }}{% endfor %}"
    ),
}


@pytest.mark.parametrize("xml", [True, False])
@pytest.mark.parametrize("name", ["v/forms", "v/child", "v/child2", "v/part", "v/attrs"])
def test_template_forms_render_as_stock_jinja2(tmp_path, name, xml):
    """Every form of template (macro, call, set and filter blocks, include, for-else, blocks, extends
    and super) gives stock Jinja2's text: the root collects its output in a list, which must not
    change what it writes."""
    for path, text in TEMPLATE_FORMS.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
    account = Account(1, "201", "Rossi & <Figli>", "L<1>", "201", "a201", "pw", "pbx", 5061, "tls")
    ctx = {
        "v": "<a&b>",
        "items": ["1", "<2>"],
        "d": {"k": "<k>", "none": None, "zero": 0, "sub": {"k": "é&"}, "list": [{"k": "<1>"}, {"k": 2}]},
        "a": account,
        "n": 7,
        "m": markupsafe.Markup("<b>&amp;</b>"),
        "b": True,
        "f": 1.5,
    }
    finalize = _refuse_xml_illegal if xml else _refuse_line_breaks
    theirs = jinja2.Environment(autoescape=xml, finalize=finalize, **environment_options(tmp_path, SHIPPED_TEMPLATES))
    ours = Renderer(override=tmp_path).render("v", name.split("/")[1], ctx, xml)
    assert ours == theirs.get_template(name).render(ctx).encode()
    assert (b"&lt;a&amp;b&gt;" if xml else b"<a&b>") in ours or name == "v/attrs"
    assert (
        name != "v/attrs" or (b"&lt;k&gt;||0|L&lt;1&gt;|5061|True|7|" if xml else b"<k>||0|L<1>|5061|True|7|") in ours
    )


@pytest.mark.parametrize("text", ["{{ nothing.x }}", "{{ d.nothing }}", "{{ d.k.nothing }}", "{{ a.nothing }}"])
def test_a_missing_name_or_attribute_fails_as_in_stock_jinja2(tmp_path, text):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "t").write_text(text)
    ctx = {"d": {"k": "v"}, "a": Account(1, "201", "n", "l", "201", "a", "pw", "pbx", 5060, "udp")}
    with pytest.raises(jinja2.UndefinedError) as theirs:
        stock(True).from_string(text).render(ctx)
    with pytest.raises(RenderError, match="UndefinedError") as ours:
        Renderer(override=tmp_path).render("v", "t", ctx, True)
    assert str(theirs.value) in str(ours.value)


def test_a_device_file_is_yielded_in_one_piece():
    """A template without {% extends %} collects its pieces and yields their join once (Jinja2 yields
    each piece: ~400 generator resumes for a phone's file)."""
    renderer = Renderer()
    ctx = device_context(vendors.get("yealink"), device("yealink"), URL)
    template = renderer.template_for("yealink", "mac.cfg", ctx["model"], False)
    pieces = list(template.root_render_func(template.new_context(dict(ctx, firmware_url=None))))
    assert len(pieces) == 1 and "account.1.password = " in pieces[0]


def test_render_does_not_copy_the_context_twice(monkeypatch):
    """Renderer.render runs the template's root function on one context (Template.render would
    copy the variables once more and rewrite tracebacks first)."""
    monkeypatch.setattr(jinja2.Template, "render", lambda *a, **kw: pytest.fail("Template.render called"))
    ctx = device_context(vendors.get("yealink"), device("yealink"), URL)
    assert b"account.1.password = pa&ss<1>=" in Renderer().render("yealink", "mac.cfg", ctx, False)


@pytest.mark.parametrize(
    ("settings", "defaults", "hour", "zone", "overrides"),
    [
        ({}, {}, 3, "Europe/Rome", {}),
        ({}, {"check_hour": "5"}, 5, "Europe/Rome", {}),
        ({"check_hour": "7"}, {"check_hour": "5"}, 7, "Europe/Rome", {}),
        ({"timezone": "Europe/London", "a.b": "1"}, {"check_hour": "5"}, 5, "Europe/London", {"a.b": "1"}),
    ],
)
def test_device_settings_layer_over_the_customers(settings, defaults, hour, zone, overrides):
    data = DeviceData(
        mac="001565ABCDEF",
        vendor="yealink",
        model="T46U",
        customer_code="C",
        customer_name="C",
        timezone="Europe/Rome",
        language="it",
        ntp_server="ntp.example.net",
        accounts=(),
        settings=settings,
        check_defaults=defaults,
    )
    ctx = device_context(vendors.get("yealink"), data, URL)
    assert (ctx["check"].hour, ctx["timezone"].name, ctx["overrides"]) == (hour, zone, overrides)
