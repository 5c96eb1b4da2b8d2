"""Handlebars in curated answers, as QnABot content uses it."""

from __future__ import annotations

from fulfillment.model import Request
from fulfillment.templating import TemplateContext, render_template

from .conftest import make_pipeline


def test_the_tutorial_interaction_count_item_is_personalised(kb, settings):
    pipeline = make_pipeline(kb)
    clock = pipeline.services.memory.clock
    pipeline.services.memory.clock = lambda: 1_000.0
    ask = lambda: pipeline.run(Request("s1", "QID::Handlebars.001"), settings).answer.text  # noqa: E731
    first = ask()
    pipeline.services.memory.clock = lambda: 1_090.0
    second = ask()
    pipeline.services.memory.clock = clock
    assert "{{" not in first + second
    assert first.startswith("So far, you have interacted with me 1 times.")
    assert second.startswith("So far, you have interacted with me 2 times.")
    assert "It's over a minute since I heard from you last" in second


def test_session_attributes_and_defaults_are_available():
    ctx = TemplateContext(session={"name": "Jo"})
    assert render_template("Hi {{getSessionAttr 'name' 'friend'}}!", ctx) == "Hi Jo!"
    assert render_template("Hi {{getSessionAttr 'nick' 'friend'}}!", ctx) == "Hi friend!"
    assert render_template("Hi {{SessionAttributes.name}}", ctx) == "Hi Jo"


def test_blocks_nest_and_unknown_names_render_empty():
    ctx = TemplateContext(interaction_count=5)
    template = ("{{#ifLex}}Lex{{#ifCond UserInfo.InteractionCount '>=' 5}} regular"
                "{{else}} new{{/ifCond}}{{/ifLex}}{{#ifAlexa}}Alexa{{/ifAlexa}}{{Nope.x}}")
    assert render_template(template, ctx) == "Lex regular"


def test_a_template_that_does_not_parse_is_left_as_written():
    assert render_template("{{#ifCond 1 '==' 1}}never closed", TemplateContext()) == \
        "{{#ifCond 1 '==' 1}}never closed"


def test_llm_answers_are_never_rendered_as_templates(kb, settings):
    from fulfillment.llm.scripted import ScriptedLLM

    llm = ScriptedLLM(["{{UserInfo.UserId}} lost her sheep."])
    answer = make_pipeline(kb, llm).run(Request("s1", "What did Little Bo-Peep lose?"),
                                        settings).answer
    assert "{{UserInfo.UserId}}" in answer.text
