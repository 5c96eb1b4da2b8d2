"""Markdown sent to browsers carries no script, event handlers or javascript: links."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fulfillment.sanitize import is_safe_url, sanitize_markdown, sanitize_text

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "[click](javascript:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "![img](javascript:alert(1))",
    "[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<svg onload=alert(1)>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<details open ontoggle=alert(1)>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">x</a>",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<<script>script>alert(1)<</script>/script>",
]

UNSAFE = re.compile(r"<script|\son\w+\s*=|javascript:|data:text|<svg|style=", re.I)


@pytest.mark.parametrize("payload", XSS)
def test_known_xss_payloads_are_neutralised(payload):
    cleaned = sanitize_markdown(f"Answer **bold**\n{payload} end\n")
    assert not UNSAFE.search(cleaned), cleaned
    assert "**bold**" in cleaned


def test_safe_markdown_and_html_survive():
    markdown = ("# QnaBot\nUses [Amazon Lex](https://aws.amazon.com/lex) and *Alexa*.\n"
                "> quoted\n<iframe src=\"https://www.youtube.com/embed/OE4MrFx2XCs\"></iframe>\n"
                "<details><summary>Context</summary>text</details>")
    cleaned = sanitize_markdown(markdown)
    assert "[Amazon Lex](https://aws.amazon.com/lex)" in cleaned
    assert "> quoted" in cleaned
    assert '<iframe src="https://www.youtube.com/embed/OE4MrFx2XCs"></iframe>' in cleaned
    assert "<details><summary>Context</summary>" in cleaned


def test_card_text_loses_its_markup():
    assert sanitize_text("<b>Hi</b><script>x()</script>\n") == "Hi"


def test_relative_and_web_links_are_safe_and_script_schemes_are_not():
    assert all(map(is_safe_url, ["https://a.b", "http://a.b", "mailto:x@y.z", "#top",
                                 "/path", "page.html", "tel:+1555"]))
    assert not any(map(is_safe_url, ["javascript:x", " vbscript:x", "data:text/html,x",
                                     "jav&#x61;script:x", "java\nscript:x"]))


@given(st.text(alphabet=st.sampled_from(list("<>()[]:=\"' /&#;ajvscriptonerdlhfxme01")),
               max_size=80))
def test_no_input_yields_a_script_tag_event_handler_or_javascript_link(text):
    cleaned = sanitize_markdown(text)
    assert "<script" not in cleaned.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", cleaned, re.I)
    for destination in re.findall(r"\]\(\s*([^)\s]*)", cleaned):
        assert is_safe_url(destination), cleaned
