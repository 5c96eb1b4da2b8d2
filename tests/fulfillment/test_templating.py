"""Handlebars in curated answers, as QnABot content uses it."""

from __future__ import annotations

import random

import pytest

from fulfillment import handler
from fulfillment.model import Request
from fulfillment.templating import Renderer, TemplateContext, render_template
from knowledge.items import parse_item

from .conftest import MemorySettingsRepo, build_kb, make_pipeline
from .lex_events import LexConversation, first_text


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


# --- QnABot's helpers, escaping and the session -------------------------------------------



def render(template: str, **context) -> str:
    return render_template(template, TemplateContext(**context))


def test_values_are_escaped_unless_triple_stashed():
    session = {"name": '<speak><audio src="x"/></speak> & co'}
    assert render("Hi {{SessionAttributes.name}}", session=session) == \
        "Hi &lt;speak&gt;&lt;audio src&#x3D;&quot;x&quot;/&gt;&lt;/speak&gt; &amp; co"
    assert render("Hi {{{SessionAttributes.name}}}", session=session) == \
        'Hi <speak><audio src="x"/></speak> & co'
    assert render("{{getSessionAttr 'name'}}", session=session).startswith("&lt;speak&gt;")


def test_set_session_attr_is_seen_by_later_fields_and_sent_back():
    renderer = Renderer(TemplateContext(session={"team": "ops"}))
    assert renderer.render("{{setSessionAttr 'team' 'eng' 'ineering'}}Done") == "Done"
    assert renderer.render("{{getSessionAttr 'team'}} / {{SessionAttributes.team}}") == \
        "engineering / engineering"
    renderer.render("{{setSessionAttr 'profile.tier' 'gold'}}")
    assert renderer.changes == {"team": "engineering", "profile": {"tier": "gold"}}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{getSessionAttr 'missing' 'friend'}}", "friend"),
    ("{{getSessionAttr 'missing'}}", ""),
    ("{{getSessionAttr 'empty' 'friend'}}", ""),  # present but empty: no default, as lodash
    ("{{getSessionAttr 'user.first' 'x'}}", "Jo"),
    ("{{SessionAttributes.nope.deeper}}", ""),
    ("{{toUpperCase SessionAttributes.nope}}", ""),
    ("{{getSlot 'city' 'nowhere'}}", "Paris"),
    ("{{getSlot 'date' 'today'}}", "today"),
    ("{{Slots.city}}", "Paris"),
])
def test_missing_values_render_as_qnabot_renders_them(template, expected):
    context = dict(session={"empty": "", "user": {"first": "Jo"}},
                   slots={"city": {"value": {"interpretedValue": "Paris"}}, "date": None})
    assert render(template, **context) == expected


@pytest.mark.parametrize(("left", "op", "right", "expected"), [
    ("'10'", "<", "'9'", "yes"),  # two strings compare as text, as in JavaScript
    ("10", "<", "'9'", "no"),
    ("'1'", "==", "1", "yes"),
    ("'1'", "===", "1", "no"),
    ("UserInfo.InteractionCount", ">=", "2", "yes"),
    ("SessionAttributes.missing", "==", "undefined", "yes"),
    ("''", "||", "'x'", "yes"),
    ("1", "~", "1", "no"),
])
def test_ifcond_uses_javascript_comparisons(left, op, right, expected):
    template = f"{{{{#ifCond {left} '{op}' {right}}}}}yes{{{{else}}}}no{{{{/ifCond}}}}"
    assert render(template, interaction_count=2) == expected


def test_iflang_and_defaultlang_pick_the_users_language():
    template = ("{{#ifLang 'es'}}Hola{{/ifLang}}{{#ifLang 'fr'}}Bonjour{{/ifLang}}"
                "{{#defaultLang}}Hello{{/defaultLang}}")
    assert render(template, locale="es_US") == "Hola"
    assert render(template, locale="en_US") == "Hello"
    assert render(template, session={"qnabotcontext": {"userLocale": "fr"}},
                  locale="en_US") == "Bonjour"


def test_case_helpers_random_pick_question_and_settings():
    assert render("{{toLowerCase 'AbC'}} {{toUpperCase 'abc'}} {{toTitleCase 'hello wORLD'}}") \
        == "abc ABC Hello World"
    picked = Renderer(TemplateContext(), rng=random.Random(1)).render(
        "{{randomPick 'a' 'b' 'c'}}")
    assert picked in ("a", "b", "c")
    assert render("You asked: {{getQuestion}}", matched_question="What is Lex?") == \
        "You asked: What is Lex?"
    assert render("{{Settings.MY_TEAM}}", settings={"MY_TEAM": "Ops"}) == "Ops"


def test_sign_s3_url_uses_the_signer_and_is_not_escaped():
    signed = render("[doc]({{signS3URL 'https://b.s3.amazonaws.com/a.pdf'}})",
                    sign_url=lambda url: url + "?X-Amz-Signature=a&b=c")
    assert signed == "[doc](https://b.s3.amazonaws.com/a.pdf?X-Amz-Signature=a&b=c)"


def test_handlebars_builtins_else_if_each_and_comments():
    template = ("{{!-- a note --}}{{#if SessionAttributes.vip}}VIP{{else if "
                "SessionAttributes.member}}Member{{else}}Guest{{/if}}:"
                "{{#each SessionAttributes.items}}[{{this}}]{{/each}}")
    assert render(template, session={"member": "y", "items": ["a", "<b>"]}) == \
        "Member:[a][&lt;b&gt;]"


def test_a_set_filter_item_sets_the_client_filter_for_the_next_turns(tmp_path, settings):
    """QnABot's client-filter demo: an item sets QNAClientFilter with setSessionAttr."""
    kb = build_kb(tmp_path / "k.sqlite", [
        {"qid": "Filter.Set", "q": ["Set filter to engineering"],
         "a": "Filter set.{{setSessionAttr 'QNAClientFilter' 'Engineering'}}"},
        {"qid": "Eng.Lab", "q": ["Where is the lab?"], "a": "Building 4.",
         "clientFilterValues": "engineering sci"},
    ], fixtures=False)
    handler.set_service(handler.FulfillmentService(make_pipeline(kb), MemorySettingsRepo()))
    try:
        chat = LexConversation(handler.lambda_handler)
        assert first_text(chat.ask("Where is the lab?")) != "Building 4."
        assert first_text(chat.ask("Set filter to engineering")) == "Filter set."
        assert chat.attributes["QNAClientFilter"] == "Engineering"
        assert first_text(chat.ask("Where is the lab?")) == "Building 4."
    finally:
        handler.set_service(None)


def test_a_session_attribute_cannot_inject_markup_into_ssml_or_markdown(kb, settings):
    kb.kb.put_items([parse_item({"qid": "Greet.1", "q": ["Greet me"],
                                 "a": "Hello {{SessionAttributes.name}}",
                                 "alt": {"ssml": "<speak>Hello {{SessionAttributes.name}}"
                                                 "</speak>",
                                         "markdown": "**Hello** {{SessionAttributes.name}}"}})])
    request = Request("s1", "QID::Greet.1", session_attributes={
        "name": '</speak><audio src="https://evil.example/x.mp3"/>'})
    answer = make_pipeline(kb).run(request, settings).answer
    assert "<audio" not in answer.ssml and "&lt;audio" in answer.ssml
    assert "<audio" not in answer.markdown and "<script" not in answer.markdown
