"""Handlebars applied to every field of a curated answer, as QnABot applies it.

QnABot renders the answer, its markdown and SSML, the response card's title, subtitle, image
URL and buttons, and the values of the item's session attributes (``sa``), all with one shared
session, then sends back the session attributes that ``setSessionAttr`` changed. Values that are
objects (``setSessionAttr 'a.b' 'x'`` makes ``a`` an object) go back as JSON, as QnABot does.

Example:
    >>> from fulfillment.model import Answer
    >>> from fulfillment.templating import Renderer, TemplateContext
    >>> answer = Answer("Filter set.{{setSessionAttr 'QNAClientFilter' 'Engineering'}}", "qna",
    ...                 qid="Filter.1")
    >>> done = render_answer(answer, Renderer(TemplateContext()))
    >>> done.text, done.session_attributes
    ('Filter set.', {'QNAClientFilter': 'Engineering'})
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from fulfillment.model import Answer, CardButton, Request
from fulfillment.templating import Renderer


def template_fields_text(answer: Answer) -> str:
    """Every field a template may sit in, joined (to skip answers without any)."""
    parts = [answer.text, answer.markdown, answer.ssml, *answer.session_attributes.values()]
    if answer.card is not None:
        card = answer.card
        parts += [card.title, card.subtitle, card.image_url,
                  *(f"{b.text}{b.value}" for b in card.buttons)]
    return "".join(str(p) for p in parts)


def _attribute_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_answer(answer: Answer, renderer: Renderer) -> Answer:
    """``answer`` with its templates rendered and the session changes merged in."""
    text = renderer.render(answer.text)
    markdown = renderer.render(answer.markdown)
    ssml = renderer.render(answer.ssml).replace("\n", "")
    card = answer.card
    if card is not None:
        card = replace(
            card, title=renderer.render(card.title), subtitle=renderer.render(card.subtitle),
            image_url=renderer.render(card.image_url),
            buttons=tuple(CardButton(renderer.render(b.text), renderer.render(b.value))
                          for b in card.buttons))
    attributes = {name: renderer.render(str(value))
                  for name, value in answer.session_attributes.items()}
    attributes.update({name: _attribute_text(value) for name, value in renderer.changes.items()})
    return replace(answer, text=text, markdown=markdown, ssml=ssml, card=card,
                   session_attributes=attributes)


def client_type(request: Request) -> str:
    """QnABot's ``ClientType`` for a Lex V2 request: ``LEX.AmazonConnect.Voice``,
    ``LEX.LexWebUI.Text``, ``LEX.Text``, ...

    >>> client_type(Request("s", "hi"))
    'LEX.Text'
    """
    mode = "Voice" if request.channel == "voice" else "Text"
    if request.accepts_ssml:
        return f"LEX.AmazonConnect.{mode}"
    source = request.request_attributes.get("x-amz-lex:channel-type") or ""
    if request.session_attributes.get("qnabotUserId") or \
            request.request_attributes.get("x-amz-lex:channel-type") == "LexWebUI":
        return f"LEX.LexWebUI.{mode}"
    return f"LEX.{source}.{mode}" if source else f"LEX.{mode}"
