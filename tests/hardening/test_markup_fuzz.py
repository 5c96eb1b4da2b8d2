"""The sanitizers fuzzed with hypothesis: for any input built from markup fragments, the
invariants hold (well-formed SSML of allowed tags and attributes only; card text with nothing
a browser could take for a tag; markdown that renders to HTML without scripts, event handlers
or script URLs), rather than a list of known attacks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from fulfillment.model import Answer
from fulfillment.render import finish
from fulfillment.sanitize import SSML_ALLOWED, sanitize_markdown, sanitize_ssml, sanitize_text

FRAGMENTS = [
    "<", ">", "</", "/>", "<<", ">>", '"', "'", "=", "&", "&amp;", "&lt;", "&gt;", "&#60;",
    "&#x3C;", "&quot;", "<!--", "-->", "<![CDATA[", "]]>", "<?xml ?>", "<!DOCTYPE x>", "\n",
    "\x00", "\u202e", "<speak>", "</speak>", "<script>", "</script>", "<audio src='x.mp3'/>",
    "<audio", "src=", "onload=", "<break time=\"2s\"/>", "<break", "<prosody rate='slow'>",
    "</prosody>", "<say-as interpret-as=\"digits\">", "</say-as>", "<amazon:effect name=x>",
    "</amazon:effect>", "<lang xml:lang=\"fr-FR\">", "</lang>", "<p>", "</p>", "<s>", "<sub",
    "alias='a'", "<img src=x onerror=alert(1)>", "<a href=\"javascript:alert(1)\">", "</a>",
    "[x](", "javascript:alert(1)", ")", "](", "<javascript:alert(1)>", "[r]: ", "data:text/html,",
    "<iframe src=\"javascript:x\">", "<details>", "<summary>", "**", "`", "<style>", "\\",
]
MARKUP = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)),
                  max_size=40).map("".join)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TAG_START = re.compile(r"<[A-Za-z/!?]")


def ssml_tree(ssml: str) -> ET.Element:
    """The SSML parsed as XML (Polly's ``amazon:`` prefix declared for the parser)."""
    return ET.fromstring(ssml.replace("<speak>", '<speak xmlns:amazon="urn:amazon">', 1))


def local_name(name: str) -> str:
    return name.replace("{urn:amazon}", "amazon:").replace(
        "{http://www.w3.org/XML/1998/namespace}", "xml:")


@FUZZ
@given(MARKUP)
def test_sanitized_ssml_is_well_formed_with_only_allowed_tags_and_attributes(text):
    ssml = sanitize_ssml(text)

    root = ssml_tree(ssml)  # raises if not well-formed XML
    assert root.tag == "speak" and not root.attrib
    for element in root.iter():
        if element is root:
            continue
        tag = local_name(element.tag)
        assert tag in SSML_ALLOWED, tag
        assert {local_name(a) for a in element.attrib} <= SSML_ALLOWED[tag], element.attrib
    assert sanitize_ssml(ssml) == ssml  # a second pass changes nothing


@FUZZ
@given(MARKUP)
def test_the_voice_answer_is_safe_ssml_whatever_the_text_or_ssml_holds(text):
    for answer in (Answer(text=text, source="qna"), Answer(text="x", ssml=text, source="qna")):
        ssml = finish(answer).ssml
        root = ssml_tree(ssml)
        assert all(local_name(e.tag) in {*SSML_ALLOWED, "speak"} for e in root.iter())


@FUZZ
@given(MARKUP)
def test_card_text_is_plain_text_that_no_browser_reads_as_markup(text):
    plain = sanitize_text(text)

    assert not TAG_START.search(plain), plain
    assert not re.search(r"[\x00-\x1f\x7f]", plain)
    assert not TAG_START.search(sanitize_text(plain))


class RenderedHtml(HTMLParser):
    """Collects what a browser would treat as active in rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


@FUZZ
@given(MARKUP)
def test_sanitized_markdown_renders_to_html_without_scripts_handlers_or_script_urls(text):
    rendered = MarkdownIt("commonmark", {"html": True}).render(sanitize_markdown(text))
    seen = RenderedHtml()
    seen.feed(rendered)
    seen.close()

    assert not seen.tags & {"script", "style", "object", "embed", "svg", "math", "base", "form"}
    for name, value in seen.attributes:
        assert not name.startswith("on"), (name, rendered)
        if name in ("href", "src"):
            squeezed = re.sub(r"[\x00-\x20]+", "", value).lower()
            assert not squeezed.startswith(("javascript:", "data:", "vbscript:")), rendered


def test_a_session_attribute_carrying_audio_never_reaches_the_voice_answer():
    # What a template would produce if a client-set {{SessionAttributes.name}} were inserted
    # into an item's SSML unescaped: the renderer still sends only Polly's tags.
    injected = "Hello <audio src='https://evil.example/a.mp3'/><<audio>audio src=x>!"
    answer = finish(Answer(text="Hello", ssml=f"<speak>{injected}</speak>", source="qna"))

    assert "<audio" not in answer.ssml
    assert [local_name(e.tag) for e in ssml_tree(answer.ssml).iter()] == ["speak"]
