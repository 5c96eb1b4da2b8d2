"""Make markdown, card text and SSML safe to send to a browser or a voice channel.

Answers are written by content editors, by an LLM, or returned by a lambda hook, and the web
client renders markdown as HTML, so everything sent to a client goes through
:func:`sanitize_markdown`: HTML is cleaned with ``nh3`` (no ``script``, no event handlers, no
``javascript:`` URLs), and markdown link destinations are checked too, because a markdown
renderer turns ``[x](javascript:...)`` into a live link that no HTML cleaner sees.

Example:
    >>> sanitize_markdown('**Hi** <script>alert(1)</script>[x](javascript:alert(1))')
    '**Hi** [x](#)'
    >>> escape_ssml("Fish & chips < 5")
    'Fish &amp; chips &lt; 5'
"""

from __future__ import annotations

import html
import re

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
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.\-]{1,31}:[^<>\s]*)>")
_SSML_TAGS = re.compile(r"</?([a-zA-Z:\-]+)[^>]*>")
_ALLOWED_SSML = {"speak", "break", "emphasis", "lang", "p", "phoneme", "prosody", "s",
                 "say-as", "sub", "w", "amazon:effect", "amazon:domain", "mark"}


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
    # ">" never opens a tag; keep it literal so markdown block quotes still work.
    cleaned = cleaned.replace("&gt;", ">")
    cleaned = _INLINE_LINK.sub(_check_destination, cleaned)
    cleaned = _REFERENCE.sub(_check_destination, cleaned)
    return _AUTOLINK.sub(lambda m: m.group(0) if is_safe_url(m.group(1)) else "", cleaned)


def sanitize_text(text: str) -> str:
    """Plain text for a card title or button: no tags, no control characters."""
    text = nh3.clean(text, tags=set(), attributes={})
    text = html.unescape(text)
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def escape_ssml(text: str) -> str:
    """Plain text escaped for use inside SSML."""
    return html.escape(text, quote=False)


def to_ssml(text: str) -> str:
    """Plain text as a complete SSML document."""
    return f"<speak>{escape_ssml(text)}</speak>"


def sanitize_ssml(ssml: str) -> str:
    """An item's SSML reduced to the tags Amazon Polly knows, wrapped in one ``<speak>``.

    Unknown tags (``<script>``, ``<audio src=...>``) are dropped with their markup, keeping text.
    """
    def keep_known(match: re.Match) -> str:
        name = match.group(1).lower()
        return match.group(0) if name in _ALLOWED_SSML and name != "speak" else ""

    body = _SSML_TAGS.sub(keep_known, ssml.strip())
    return f"<speak>{body.strip()}</speak>"
