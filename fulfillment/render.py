"""Render answers for each client: plain text, sanitized markdown, SSML and response cards.

Example:
    >>> from fulfillment.model import Answer
    >>> a = finish(Answer(text="Fish & chips", source="qna"))
    >>> a.markdown, a.ssml
    ('Fish &amp; chips', '<speak>Fish &amp; chips</speak>')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from fulfillment.model import Answer, CardButton, Citation, ResponseCard
from fulfillment.sanitize import is_safe_url, sanitize_markdown, sanitize_ssml, sanitize_text
from fulfillment.sanitize import to_ssml as text_to_ssml
from knowledge.items import Card

# Amazon Lex V2 ImageResponseCard limits.
MAX_BUTTONS = 5
MAX_BUTTON_CHARS = 50
MAX_TITLE_CHARS = 250
MAX_IMAGE_URL_CHARS = 250

_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_MD_SYNTAX = re.compile(r"(\*\*|__|`|^#+\s*|^>\s?)", re.M)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fit_card(card: Card | None) -> ResponseCard | None:
    """An item's card within Lex's limits, or None when nothing usable is left.

    Buttons without text or value are dropped (QnABot exports carry empty ones); at most 5
    are kept; a button whose value is over 50 characters is dropped rather than cut, because a
    cut value would send another question. Titles and texts are cut with an ellipsis.

    >>> from knowledge.items import Button
    >>> fit_card(Card(title="T", buttons=(Button("", ""), Button("Yes", "yes")))).buttons
    (CardButton(text='Yes', value='yes'),)
    """
    if card is None:
        return None
    buttons = []
    for button in card.buttons:
        text, value = sanitize_text(button.text), sanitize_text(button.value)
        if text and value and len(value) <= MAX_BUTTON_CHARS:
            buttons.append(CardButton(_clip(text, MAX_BUTTON_CHARS), value))
    image = card.image_url.strip()
    if not (image and len(image) <= MAX_IMAGE_URL_CHARS and image.lower().startswith("https://")
            and is_safe_url(image)):
        image = ""
    title = _clip(sanitize_text(card.title), MAX_TITLE_CHARS)
    if not (title or image or buttons):
        return None
    return ResponseCard(
        title=title or ("Choose an option" if buttons else "Image"),
        subtitle=_clip(sanitize_text(card.subtitle), MAX_TITLE_CHARS),
        image_url=image,
        buttons=tuple(buttons[:MAX_BUTTONS]),
    )


def suggestions_card(buttons: Sequence[tuple[str, str]], title: str,
                     card: ResponseCard | None = None) -> ResponseCard:
    """A card of "did you mean" buttons ``(text, value)`` under ``title``; the buttons of the
    answer's own ``card`` (the no_hits item's) follow while Lex's 5 allow, and its image and
    subtitle stay.

    >>> suggestions_card([("Can I pay with cash?", "Can I pay with cash?")], "Did you mean?")
    ... # doctest: +NORMALIZE_WHITESPACE
    ResponseCard(title='Did you mean?', subtitle='', image_url='',
                 buttons=(CardButton(text='Can I pay with cash?', value='Can I pay with cash?'),))
    """
    offered = [CardButton(_clip(sanitize_text(text), MAX_BUTTON_CHARS), value)
               for text, value in buttons if text and 0 < len(value) <= MAX_BUTTON_CHARS]
    own = card.buttons if card is not None else ()
    title = _clip(sanitize_text(title), MAX_TITLE_CHARS) or "Did you mean one of these?"
    return ResponseCard(title=title, subtitle=card.subtitle if card is not None else "",
                        image_url=card.image_url if card is not None else "",
                        buttons=tuple([*offered, *own][:MAX_BUTTONS]))


def markdown_to_text(markdown: str) -> str:
    """A rough plain-text rendering of markdown (links become their text)."""
    text = _MD_LINK.sub(r"\1", markdown)
    text = re.sub(r"<[^>]+>", "", text)
    return " ".join(_MD_SYNTAX.sub("", text).split())


def citation_links(citations: Sequence[Citation]) -> str:
    """Markdown source links, one per line, for citations that have a URL."""
    links = [link for link in map(source_link, citations) if link]
    return "\n".join(f"{number}. {link}" for number, link in enumerate(links, start=1))


def source_link(citation: Citation) -> str:
    """A citation as a markdown link ('' when it has no safe URL).

    >>> source_link(Citation("Lex [FAQ]", "https://aws.amazon.com/lex/faqs/"))
    '[Lex (FAQ)](https://aws.amazon.com/lex/faqs/)'
    """
    if not citation.url or not is_safe_url(citation.url):
        return ""
    title = citation.title.replace("[", "(").replace("]", ")") or citation.url
    return f"[{title}]({citation.url})"


def generated_markdown(answer: str, *, prefix: str, context: Sequence[str],
                       citations: Sequence[Citation], show_context: bool,
                       show_links: bool) -> str:
    """Markdown for an LLM answer: prefix, answer, collapsible context, source links."""
    parts = [f"**{prefix.strip()}**" if prefix.strip() else "", answer.strip()]
    if show_context and context:
        body = "\n\n".join(c.strip() for c in context if c.strip())
        parts.append(f"<details><summary>Context</summary>\n\n{body}\n\n</details>")
    links = citation_links(citations) if show_links else ""
    if links:
        parts.append("**Sources:**\n" + links)
    return "\n\n".join(p for p in parts if p)


def passage_markdown(passage: str, ref_markdown: str = "") -> str:
    """Markdown for a passage answered as is (no LLM): the passage, then its source link."""
    return "\n\n".join(p for p in (passage.strip(), ref_markdown.strip()) if p)


def debug_prefix(*, user_input: str, search_string: str, generated_query: str,
                 generation_ms: float | None, qid: str | None, source: str) -> str:
    """The ``ENABLE_DEBUG_RESPONSES`` line put before an answer."""
    parts = [f'User Input: "{user_input}"', f'Search string: "{search_string}"']
    if generated_query:
        timing = f" ({generation_ms:.0f} ms)" if generation_ms is not None else ""
        parts.append(f'Generated query: "{generated_query}"{timing}')
    parts.append(f"Matched qid: {qid or 'none'}")
    parts.append(f"Source: {source}")
    return "[" + ", ".join(parts) + "]"


def finish(answer: Answer, *, debug_line: str = "") -> Answer:
    """The answer with markdown and SSML filled in from the text where missing, markdown
    sanitized, SSML restricted to Polly's tags, and the debug line (if any) put first."""
    text = answer.text.strip() or markdown_to_text(answer.markdown)
    markdown = answer.markdown.strip() or text
    ssml = sanitize_ssml(answer.ssml) if answer.ssml.strip() else text_to_ssml(text)
    if debug_line:
        text = f"{debug_line} {text}"
        markdown = f"*{debug_line}*\n\n{markdown}"
        ssml = ssml.replace("<speak>", "<speak>" + text_to_ssml(debug_line)[7:-8] + " ", 1)
    return replace(answer, text=text, markdown=sanitize_markdown(markdown), ssml=ssml)
