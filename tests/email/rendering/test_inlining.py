"""CSS inlining of template sources at load time: Jinja untouched, styles added, lines remembered."""

from __future__ import annotations

import re

import pytest

from referral_automation.email.rendering.inlining import (
    inline_template_source,
    make_inliner,
    same_meaning,
    strip_css_comments,
)

CSS = ".btn { color: #ffffff; background-color: #0000ff; } p { margin: 0; } .box { padding: 4px; }"


def inline(source: str, css: str = CSS):  # type: ignore[no-untyped-def]
    return inline_template_source(source, make_inliner(css), css)


def test_fragment_gets_styles_and_keeps_jinja() -> None:
    """It adds inline styles to a block's markup and leaves every Jinja construct as written."""
    source = (
        '{% extends "_layout.html" %}\n{% block body %}\n'
        '<p>Hi {{ customer.first_name }},</p>\n<a class="btn" href="{{ referral.link }}">Go</a>\n{% endblock %}\n'
    )
    result = inline(source)
    assert result is not None
    assert '{% extends "_layout.html" %}' in result.source
    assert '<p style="margin: 0;">Hi {{ customer.first_name }},</p>' in result.source
    assert 'href="{{ referral.link }}"' in result.source
    assert 'style="color: #ffffff;background-color: #0000ff;"' in result.source


def test_document_with_jinja_between_table_rows() -> None:
    """It keeps loops and conditions between table rows where a browser would move text."""
    source = (
        "<!DOCTYPE html><html><head><title>{{ title }}</title></head><body>"
        '<table>\n<tbody>{% for row in rows %}<tr><td class="box">{{ row }}</td></tr>{% endfor %}</tbody>\n</table>'
        '<table>\n<tr><td class="box">{% if x %}{{ x }}{% endif %}</td></tr>\n</table>'
        "</body></html>"
    )
    result = inline(source)
    assert result is not None
    assert "<title>{{ title }}</title>" in result.source
    assert '{% for row in rows %}<tr><td class="box" style="padding: 4px;">{{ row }}</td></tr>{% endfor %}' in (
        result.source
    )
    assert '<table>\n<tbody><tr><td class="box" style="padding: 4px;">{% if x %}{{ x }}{% endif %}</td></tr>' in (
        result.source
    )


def test_jinja_inside_comments_and_attributes_is_kept() -> None:
    """It keeps constructs in HTML comments and quoted attribute values."""
    source = (
        '<p class="box" title=\'{{ a }}\' data-x="{{ b }}"><!-- {{ c }} -->x</p>'
        '<a href="{% if d %}{{ d }}{% else %}#{% endif %}">y</a>'
    )
    result = inline(source)
    assert result is not None
    assert 'title="{{ a }}"' in result.source
    assert 'data-x="{{ b }}"' in result.source
    assert "<!-- {{ c }} -->" in result.source
    assert '<a href="{% if d %}{{ d }}{% else %}#{% endif %}">y</a>' in result.source


@pytest.mark.parametrize(
    ("order", "kinds", "same"),
    [
        ([1, 0], ["{{", "{{"], True),  # two expressions in attributes that swapped places
        ([0, 2, 1, 3], ["{%", "{{", "{{", "{%"], True),  # swapped inside the same statement
        ([1, 0], ["{%", "{{"], False),  # an expression moved in front of a statement
        ([1, 0, 2], ["{%", "{%", "{{"], False),  # statements out of order
        ([0, 0], ["{{", "{{"], False),  # a construct twice
    ],
)
def test_reordered_constructs(order: list[int], kinds: list[str], same: bool) -> None:
    """It accepts attribute reordering only where every construct keeps its meaning."""
    constructs = list(re.finditer(r"\{[{%].*?[}%]\}", "".join(f"{k} x {'}}' if k == '{{' else '%}'}" for k in kinds)))
    assert same_meaning(order, constructs) is same


@pytest.mark.parametrize(
    "source",
    [
        '<p {% if x %}class="box"{% endif %}>x</p>',  # a tag between attributes
        "<style>p { color: {{ color }}; }</style><p>x</p>",  # Jinja inside CSS
        '{% if x %}<a href="a">{% else %}<a href="b">{% endif %}x</a>',  # markup the parser would reshape
        "<p>a<p>b",  # implied end tags
        "<table>{% for r in rows %}<tr><td>{{ r }}</td></tr>{% endfor %}</table>",  # an implied <tbody> in a loop
        "<p>\ue000 private use</p>",
    ],
)
def test_sources_that_cannot_be_inlined_safely(source: str) -> None:
    """It declines markup whose meaning inlining could change (the renderer then inlines per email)."""
    assert inline(source) is None


def test_line_map_points_back_to_the_original_lines() -> None:
    """It maps a line of the inlined source back to the line of the original file."""
    source = '<div\n  class="box"\n  id="a">\n<p>\n{{ one }}\n</p>\n</div>\n{{ two }}\n'
    result = inline(source)
    assert result is not None
    lines = result.source.splitlines()
    one = next(i for i, line in enumerate(lines, 1) if "{{ one }}" in line)
    two = next(i for i, line in enumerate(lines, 1) if "{{ two }}" in line)
    assert result.original_line(one) == 5
    assert result.original_line(two) == 8


def test_css_comments_are_dropped() -> None:
    """It strips comments from the stylesheet so they are not copied into emails."""
    assert strip_css_comments("/* note */ p { margin: 0; } /* more\n lines */") == "p { margin: 0; }"
