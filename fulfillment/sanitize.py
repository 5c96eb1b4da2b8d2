"""Make markdown, card text and SSML safe to send to a browser or a voice channel.

Answers are written by content editors, by an LLM, or returned by a lambda hook, and the web
client renders markdown as HTML, so everything sent to a client goes through
:func:`sanitize_markdown`: HTML is cleaned with ``nh3`` (no ``script``, no event handlers, no
``javascript:`` URLs), and markdown link destinations are checked too, because a markdown
renderer turns ``[x](javascript:...)`` into a live link that no HTML cleaner sees.

SSML is rebuilt rather than filtered (:func:`sanitize_ssml`): the input is tokenized by a
tolerant parser, and only tags and attributes of an allow-list are written back out, with
every text and attribute value escaped and every element closed, so no arrangement of
characters (``<<script>script>``, stray quotes, entities) can leave a tag the list does not
name. Card text is plain text: no tags, nothing that could become one.

Example:
    >>> sanitize_markdown('**Hi** <script>alert(1)</script>[x](javascript:alert(1))')
    '**Hi** [x](#)'
    >>> escape_ssml("Fish & chips < 5")
    'Fish &amp; chips &lt; 5'
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

_TAGS = set(nh3.ALLOWED_TAGS) | {"iframe", "details", "summary"}
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["a"] = {"href", "title"}
_ATTRIBUTES["iframe"] = {"src", "width", "height", "title", "allowfullscreen"}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}
_SAFE_DESTINATION = re.compile(r"^(?:https?:|mailto:|tel:|#|/|\.|[^:/?#]*(?:[/?#]|$))", re.I)

# Markdown link destinations: inline links/images, reference definitions, autolinks.
# A destination may hold balanced parentheses, one level deep, as markdown allows.
_INLINE_LINK = re.compile(r"(\]\(\s*)(<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))*)")
_REFERENCE = re.compile(r"^(\s{0,3}\[[^\]\n]+\]:\s*)(<[^>\n]*>|\S+)", re.M)
_IFRAME_CONTENT = re.compile(r"(<iframe\b[^>]*>).*?(</iframe>)", re.I | re.S)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.\-]{1,31}:[^<>\s]*)>")
#: The SSML tags Amazon Polly knows (``speak`` is added around the result), with the
#: attributes each may carry.
SSML_ALLOWED: dict[str, frozenset[str]] = {
    "break": frozenset({"time", "strength"}),
    "emphasis": frozenset({"level"}),
    "lang": frozenset({"xml:lang", "onlangfailure"}),
    "p": frozenset(),
    "phoneme": frozenset({"alphabet", "ph"}),
    "prosody": frozenset({"rate", "pitch", "volume", "amazon:max-duration"}),
    "s": frozenset(),
    "say-as": frozenset({"interpret-as", "format", "detail"}),
    "sub": frozenset({"alias"}),
    "w": frozenset({"role"}),
    "amazon:effect": frozenset({"name", "vocal-tract-length", "phonation"}),
    "amazon:domain": frozenset({"name"}),
    "mark": frozenset({"name"}),
}
_SSML_EMPTY = frozenset({"break", "mark"})  # written as <break .../>
_MAX_ATTRIBUTE_CHARS = 200
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what an HTML parser would take for markup


def is_safe_url(url: str) -> bool:
    """True for http(s), mailto and tel URLs and relative links; False for ``javascript:``,
    ``data:`` and other schemes, however they are disguised with entities or whitespace.

    >>> is_safe_url("https://aws.amazon.com/lex"), is_safe_url(" jav&#x09;ascript:alert(1)")
    (True, False)
    """
    decoded = html.unescape(url.strip().strip("<>"))
    decoded = re.sub(r"[\x00-\x20\x7f]+", "", decoded)
    return bool(_SAFE_DESTINATION.match(decoded))


def _check_destination(match: re.Match) -> str:
    return match.group(1) + (match.group(2) if is_safe_url(match.group(2)) else "#")


def sanitize_markdown(markdown: str) -> str:
    """Markdown with unsafe HTML removed and unsafe link destinations replaced by ``#``."""
    if not markdown:
        return ""
    cleaned = nh3.clean(markdown, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                        link_rel="noopener noreferrer")
    # An iframe's content is raw text that the cleaner writes back unescaped; a later parser
    # (a markdown renderer, a client-side sanitizer) might read it as markup: drop it.
    cleaned = _IFRAME_CONTENT.sub(r"\1\2", cleaned)
    # ">" never opens a tag; keep it literal so markdown block quotes still work.
    cleaned = cleaned.replace("&gt;", ">")
    cleaned = _INLINE_LINK.sub(_check_destination, cleaned)
    cleaned = _REFERENCE.sub(_check_destination, cleaned)
    return _AUTOLINK.sub(lambda m: m.group(0) if is_safe_url(m.group(1)) else "", cleaned)


def sanitize_text(text: str) -> str:
    """Plain text for a card title or button: no tags, no control characters, and no ``<``
    that a browser could take for the start of a tag (entities are decoded, never into
    markup: ``&lt;script&gt;`` comes out as ``< script>``).

    >>> sanitize_text("<b>Fish</b> &amp; chips &lt;img src=x onerror=alert(1)&gt;")
    'Fish & chips < img src=x onerror=alert(1)>'
    """
    text = html.unescape(nh3.clean(text, tags=set(), attributes={}))
    text = _TAG_START.sub("< ", text)
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def escape_ssml(text: str, *, quote: bool = False) -> str:
    """Plain text escaped for use inside SSML (and in attribute values with ``quote``), without
    the characters XML does not allow (controls, lone surrogates), so the SSML stays well-formed.
    """
    return html.escape(_NOT_XML.sub("", text), quote=quote)


def to_ssml(text: str) -> str:
    """Plain text as a complete SSML document."""
    return f"<speak>{escape_ssml(text)}</speak>"


class _SsmlBuilder(HTMLParser):
    """Rebuilds SSML from parser events, writing only allowed tags and attributes."""

    CDATA_CONTENT_ELEMENTS = ()  # SSML has no raw-text elements: "<script>" holds plain text

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        allowed = SSML_ALLOWED.get(tag)
        if allowed is None:
            return  # unknown markup is dropped; its text is kept
        kept = "".join(f' {name}="{escape_ssml(value[:_MAX_ATTRIBUTE_CHARS], quote=True)}"'
                       for name, value in dict(attrs).items()
                       if name in allowed and value is not None)
        if tag in _SSML_EMPTY:
            self.out.append(f"<{tag}{kept}/>")
        else:
            self.out.append(f"<{tag}{kept}>")
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in SSML_ALLOWED and tag not in _SSML_EMPTY:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open:
            return  # closes nothing we opened
        while self.open:  # close what was left open inside it, then it
            inner = self.open.pop()
            self.out.append(f"</{inner}>")
            if inner == tag:
                return

    def handle_data(self, data: str) -> None:
        self.out.append(escape_ssml(data))

    def result(self) -> str:
        self.close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out)


def sanitize_ssml(ssml: str) -> str:
    """An item's SSML rebuilt from the tags and attributes Polly knows, in one ``<speak>``.

    Unknown tags (``<script>``, ``<audio src=...>``), unknown attributes, comments and
    declarations are dropped; their text is kept as text. The result is well-formed XML.

    >>> sanitize_ssml('<speak>Hi <audio src="x.mp3"/><break time="1s" onload="x"/> '
    ...               '<<script>script>&amp;</speak>')
    '<speak>Hi <break time="1s"/> &lt;script&gt;&amp;</speak>'
    """
    builder = _SsmlBuilder()
    builder.feed(ssml.strip())
    return f"<speak>{builder.result().strip()}</speak>"
