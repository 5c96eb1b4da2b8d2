"""Handlebars in curated answers, rendered as QnABot renders them, safely (no code, no I/O).

QnABot runs every answer field of the matched item (``a``, markdown, SSML, card texts, session
attribute values) through Handlebars with this context: ``LexOrAlexa``, ``ClientType``,
``UserInfo``, ``SessionAttributes``, ``Slots``, ``Settings``, ``Question``, ``OrigQuestion``,
``PreviousQuestion`` and ``Sentiment``. This module renders the same language:

* ``{{path}}`` escaped as Handlebars escapes it (``& < > " ' ` =``), ``{{{path}}}`` and
  ``{{&path}}`` raw; ``{{! comment}}``, ``{{!-- comment --}}``; ``~`` whitespace control;
* QnABot's helpers: ``setSessionAttr``, ``getSessionAttr``, ``getSlot``, ``getQuestion``,
  ``randomPick``, ``toLowerCase``, ``toUpperCase``, ``toTitleCase``, ``signS3URL``, ``resetLang``,
  and the blocks ``ifCond`` (``== === != !== < <= > >= && ||`` with JavaScript's comparison
  rules), ``ifLang``, ``defaultLang``, ``setLang``, ``ifLex``, ``ifAlexa``;
* Handlebars' own ``if``, ``unless``, ``each``, ``with``, ``lookup``, ``{{else}}`` and
  ``{{else if ...}}`` chains, and ``(subexpressions)``.

Missing values render as empty text, as in Handlebars. A helper's result is escaped like any
value (``signS3URL`` returns a safe URL, as in QnABot). A template that does not parse is left as
written. Only curated answers are rendered: LLM output and user text never are.

One :class:`Renderer` serves every field of one turn, so ``{{setSessionAttr 'k' 'v'}}`` in the
answer is seen by ``{{getSessionAttr 'k'}}`` in the markdown; its :attr:`Renderer.changes` are the
session attributes to send back.

Example:
    >>> ctx = TemplateContext(interaction_count=3, session={"name": "<b>Jo</b>"})
    >>> render_template("Hi {{SessionAttributes.name}}, visit {{UserInfo.InteractionCount}}.", ctx)
    'Hi &lt;b&gt;Jo&lt;/b&gt;, visit 3.'
    >>> renderer = Renderer(TemplateContext())
    >>> renderer.render("{{setSessionAttr 'dept' 'eng'}}Set to {{getSessionAttr 'dept' 'none'}}.")
    'Set to eng.'
    >>> renderer.changes
    {'dept': 'eng'}
"""

from __future__ import annotations

import copy
import logging
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from knowledge.nested import set_nested

log = logging.getLogger(__name__)

_UNDEFINED = object()  # JavaScript's undefined: a path that leads nowhere


@dataclass(frozen=True)
class TemplateContext:
    """What templates may read about the turn.

    ``session`` holds the request's session attributes (JSON values parsed); ``settings`` every
    setting's stored string, custom ones included; ``sign_url`` turns an S3 URL into a
    presigned one (``signS3URL``; left unchanged without it).
    """

    interaction_count: int = 0
    seconds_since_last: float = 0.0
    user_id: str = ""
    question: str = ""
    original_question: str = ""
    previous_question: str = ""
    matched_question: str = ""
    session: Mapping[str, Any] = field(default_factory=dict)
    slots: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    client_type: str = "LEX.Text"
    locale: str = ""
    input_transcript: str = ""
    user_info: Mapping[str, Any] = field(default_factory=dict)
    sign_url: Callable[[str], str] | None = None


class TemplateError(ValueError):
    """The template does not parse (unbalanced blocks, a broken tag)."""


class SafeString(str):
    """A helper result that is not escaped (Handlebars' ``SafeString``)."""


# --- values, as JavaScript sees them ---------------------------------------------------------

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;",
            "=": "&#x3D;"}
_ESCAPE = re.compile("[&<>\"'`=]")


def escape(text: str) -> str:
    """``text`` escaped as Handlebars escapes ``{{value}}`` output.

    >>> escape('<a href="x">&</a>')
    '&lt;a href&#x3D;&quot;x&quot;&gt;&amp;&lt;/a&gt;'
    """
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], text)


def _number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return str(int(value)) if value == int(value) and abs(value) < 1e21 else repr(value)


def to_text(value: Any) -> str:
    """A value as JavaScript prints it in a template (missing and null print nothing)."""
    if value is _UNDEFINED or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(float(value))
    if isinstance(value, list | tuple):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def truthy(value: Any) -> bool:
    """JavaScript truthiness, with Handlebars' rule that an empty list is false."""
    if value is _UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return True


def _to_number(value: Any) -> float:
    if value is _UNDEFINED:
        return math.nan
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def loose_equals(left: Any, right: Any) -> bool:
    """JavaScript's ``==``."""
    nullish = (None, _UNDEFINED)
    if left in nullish or right in nullish:
        return left in nullish and right in nullish
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, Mapping | list) or isinstance(right, Mapping | list):
        if isinstance(left, Mapping | list) and isinstance(right, Mapping | list):
            return left is right
        other = right if isinstance(left, Mapping | list) else left
        return to_text(left if other is right else right) == to_text(other) \
            if isinstance(other, str) else False
    return _to_number(left) == _to_number(right)


def strict_equals(left: Any, right: Any) -> bool:
    """JavaScript's ``===``."""
    if _is_number(left) and _is_number(right):
        return float(left) == float(right)
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is right


def _less(left: Any, right: Any, or_equal: bool) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left <= right if or_equal else left < right
    a, b = _to_number(left), _to_number(right)
    if math.isnan(a) or math.isnan(b):
        return False
    return a <= b if or_equal else a < b


def compare(left: Any, operator: Any, right: Any) -> Any:
    """QnABot's ``ifCond`` operators with JavaScript semantics; unknown operators are false.

    >>> compare("10", "<", "9"), compare(10, "<", "9"), compare("1", "==", 1)
    (True, False, True)
    """
    if operator == "==":
        return loose_equals(left, right)
    if operator == "!=":
        return not loose_equals(left, right)
    if operator == "===":
        return strict_equals(left, right)
    if operator == "!==":
        return not strict_equals(left, right)
    if operator == "<":
        return _less(left, right, False)
    if operator == "<=":
        return _less(left, right, True)
    if operator == ">":
        return _less(right, left, False)
    if operator == ">=":
        return _less(right, left, True)
    if operator == "&&":
        return right if truthy(left) else left
    if operator == "||":
        return left if truthy(left) else right
    return False


# --- parsing ---------------------------------------------------------------------------------

_TAG = re.compile(
    r"\{\{(?:(?P<comment>!--.*?--~?\}\}|!.*?\}\})|\{(?P<triple>.*?)\}\}\}|(?P<tag>.*?)\}\})",
    re.S)
_ARG = re.compile(
    r"""\s*(?:(?P<open>\()|(?P<close>\))"""
    r"""|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<hash>[A-Za-z_][\w-]*)=|(?P<word>[^\s()=]+))""")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?$")


@dataclass
class _Expr:
    """A mustache or a block's opening: a name (path or helper) and its arguments."""

    name: Any  # ("path", text) | ("lit", value) | ("sub", _Expr)
    args: list[Any]
    hash: dict[str, Any]


@dataclass
class _Block:
    expr: _Expr
    body: list[Any]
    inverse: list[Any]


def _split_args(text: str) -> list[Any]:
    """Tokens of a tag: literals, paths, ``key=`` markers and nested lists for ``(...)``."""
    stack: list[list[Any]] = [[]]
    position = 0
    text = text.strip()
    while position < len(text):
        match = _ARG.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip():
                raise TemplateError(f"cannot read {text[position:]!r}")
            break
        position = match.end()
        if match.group("open"):
            stack.append([])
        elif match.group("close"):
            if len(stack) == 1:
                raise TemplateError("unbalanced )")
            inner = stack.pop()
            stack[-1].append(("group", inner))
        elif match.group("string") is not None:
            raw = match.group("string")[1:-1]
            stack[-1].append(("lit", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("hash"):
            stack[-1].append(("hash", match.group("hash")))
        else:
            stack[-1].append(_word(match.group("word")))
    if len(stack) != 1:
        raise TemplateError("unbalanced (")
    return stack[0]


def _word(word: str) -> Any:
    if _NUMBER.match(word):
        return ("lit", float(word) if "." in word else int(word))
    literals = {"true": True, "false": False, "null": None, "undefined": _UNDEFINED}
    if word in literals:
        return ("lit", literals[word])
    return ("path", word)


def _expr(tokens: list[Any]) -> _Expr:
    if not tokens:
        raise TemplateError("empty tag")
    parts: list[Any] = []
    hash_args: dict[str, Any] = {}
    pending: str | None = None
    for token in tokens:
        converted = ("sub", _expr(token[1])) if token[0] == "group" else token
        if token[0] == "hash":
            pending = token[1]
        elif pending is not None:
            hash_args[pending], pending = converted, None
        else:
            parts.append(converted)
    if pending is not None or not parts:
        raise TemplateError("a hash argument has no value")
    return _Expr(parts[0], parts[1:], hash_args)


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", ...) and ("tag" | "raw", inner) pieces, with ``~`` whitespace control applied."""
    pieces: list[list[str]] = []
    last = 0
    for match in _TAG.finditer(template):
        pieces.append(["text", template[last:match.start()]])
        last = match.end()
        if match.group("comment") is not None:
            continue
        kind = "raw" if match.group("triple") is not None else "tag"
        inner = match.group("triple") if kind == "raw" else match.group("tag")
        if inner.startswith("~"):
            inner = inner[1:]
            pieces[-1][1] = pieces[-1][1].rstrip()
        strip_after = inner.endswith("~")
        if strip_after:
            inner = inner[:-1]
        pieces.append([kind, inner.strip(), "~" if strip_after else ""])
    pieces.append(["text", template[last:]])
    out: list[tuple[str, str]] = []
    strip_next = False
    for piece in pieces:
        if piece[0] == "text":
            text = piece[1].lstrip() if strip_next else piece[1]
            out.append(("text", text))
            strip_next = False
        else:
            out.append((piece[0], piece[1]))
            strip_next = piece[2] == "~"
    return out


def _parse(tokens: list[tuple[str, str]], position: int, closing: str | None,
           ) -> tuple[list[Any], list[Any], int, bool]:
    """Nodes up to ``{{/closing}}`` or ``{{else}}``.

    Returns (body, inverse, position after the closing tag, whether an ``else`` chain consumed
    the closing tag).
    """
    nodes: list[Any] = []
    while position < len(tokens):
        kind, value = tokens[position]
        position += 1
        if kind == "text":
            if value:
                nodes.append(("text", value))
            continue
        if kind == "raw":
            nodes.append(("raw", _expr(_split_args(value))))
            continue
        if value.startswith("/"):
            if closing is None or value[1:].strip() != closing:
                raise TemplateError(f"unexpected {{{{{value}}}}}")
            return nodes, [], position, True
        if value.startswith("#"):
            expr = _expr(_split_args(value[1:]))
            name = expr.name[1] if expr.name[0] == "path" else ""
            body, inverse, position, _ = _parse(tokens, position, name)
            nodes.append(_Block(expr, body, inverse))
            continue
        if value == "else" or value.startswith("else ") or value == "^":
            if closing is None:
                raise TemplateError("{{else}} outside a block")
            rest = value[4:].strip() if value.startswith("else") else ""
            if rest:  # {{else if cond}}: a nested block that shares the closing tag
                expr = _expr(_split_args(rest))
                body, inverse, position, _ = _parse(tokens, position, closing)
                return nodes, [_Block(expr, body, inverse)], position, True
            inverse, _, position, _ = _parse(tokens, position, closing)
            return nodes, inverse, position, True
        if value.startswith("&"):
            nodes.append(("raw", _expr(_split_args(value[1:]))))
            continue
        if value.startswith(">"):
            raise TemplateError("partials are not supported")
        nodes.append(("expr", _expr(_split_args(value))))
    if closing is not None:
        raise TemplateError(f"{{{{#{closing}}}}} is not closed")
    return nodes, [], position, False


@lru_cache(maxsize=1024)
def parse(template: str) -> tuple[Any, ...]:
    """The template's nodes (cached: answers repeat); raises :class:`TemplateError` when it
    does not parse."""
    nodes, _, _, _ = _parse(_tokens(template), 0, None)
    return tuple(nodes)


# --- rendering -------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\[([^\]]*)\]|([^./\[\]]+)")

LANGUAGES = {
    "english": "en", "spanish": "es", "french": "fr", "german": "de", "italian": "it",
    "portuguese": "pt", "chinese": "zh", "japanese": "ja", "korean": "ko", "arabic": "ar",
    "greek": "el", "hindi": "hi", "dutch": "nl", "russian": "ru", "swedish": "sv",
    "polish": "pl", "turkish": "tr", "danish": "da", "finnish": "fi", "norwegian": "no",
}


def _lookup(scope: Any, path: str) -> Any:
    value = scope
    for literal, plain in _SEGMENT.findall(path):
        key = literal or plain
        if key == "this":
            continue
        if isinstance(value, Mapping):
            value = value.get(key, _UNDEFINED)
        elif isinstance(value, list | tuple) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        elif isinstance(value, str) and key == "length":
            value = len(value)
        else:
            return _UNDEFINED
    return value


def _set_path(target: dict[str, Any], path: str, value: Any) -> str:
    """lodash's ``_.set``: create objects along a dotted path. Returns the top-level key."""
    keys = [literal or plain for literal, plain in _SEGMENT.findall(path)] or [path]
    set_nested(target, keys, value)
    return keys[0]


class Renderer:
    """Renders the templates of one turn, sharing the session as QnABot does."""

    def __init__(self, ctx: TemplateContext, *, rng: random.Random | None = None):
        self.ctx = ctx
        self.session: dict[str, Any] = copy.deepcopy(dict(ctx.session))
        self.changes: dict[str, Any] = {}
        self._rng = rng or random.Random()
        self._matched_language: bool | None = None
        self._language_error_shown = False
        self.root = self._root()

    def _root(self) -> dict[str, Any]:
        ctx = self.ctx
        user_info = {
            "UserId": ctx.user_id, "UserName": ctx.user_id,
            "InteractionCount": ctx.interaction_count,
            "TimeSinceLastInteraction": round(ctx.seconds_since_last),
            **dict(ctx.user_info),
        }
        return {
            "LexOrAlexa": "LEX",
            "ClientType": ctx.client_type,
            "UserInfo": user_info,
            "SessionAttributes": self.session,
            "Slots": {name: slot_value(slot) for name, slot in ctx.slots.items()},
            "Settings": dict(ctx.settings),
            "Question": ctx.question,
            "OrigQuestion": ctx.original_question or ctx.question,
            "PreviousQuestion": ctx.previous_question or False,
            "Sentiment": _UNDEFINED,
        }

    # -- public --

    def render(self, template: str) -> str:
        """``template`` rendered; returned unchanged when it has no tags or does not parse."""
        if not template or "{{" not in template:
            return template
        try:
            nodes = parse(template)
        except TemplateError as exc:
            log.warning("template left as written, it does not parse: %s", exc)
            return template
        return self._nodes(nodes, self.root)

    # -- evaluation --

    def _nodes(self, nodes: Sequence[Any], scope: Any) -> str:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, _Block):
                out.append(self._block(node, scope))
            elif node[0] == "text":
                out.append(node[1])
            else:
                value = self._call(node[1], scope)
                text = to_text(value)
                out.append(text if node[0] == "raw" or isinstance(value, SafeString)
                           else escape(text))
        return "".join(out)

    def _value(self, arg: Any, scope: Any) -> Any:
        kind, payload = arg
        if kind == "lit":
            return payload
        if kind == "sub":
            return self._call(payload, scope)
        if payload.startswith("@root."):
            return _lookup(self.root, payload[len("@root."):])
        if payload.startswith("../"):
            return _lookup(self.root, payload.lstrip("./"))
        found = _lookup(scope, payload)
        if found is _UNDEFINED and scope is not self.root:
            found = _lookup(self.root, payload)
        return found

    def _call(self, expr: _Expr, scope: Any) -> Any:
        name = expr.name[1] if expr.name[0] == "path" else None
        args = [self._value(a, scope) for a in expr.args]
        helper = _HELPERS.get(name or "")
        if helper is not None:
            return helper(self, args)
        if args:
            log.warning("template uses an unknown helper %s: rendered empty", name)
            return _UNDEFINED
        return self._value(expr.name, scope)

    def _block(self, block: _Block, scope: Any) -> str:
        expr = block.expr
        name = expr.name[1] if expr.name[0] == "path" else ""
        args = [self._value(a, scope) for a in expr.args]

        def body(new_scope: Any = scope) -> str:
            return self._nodes(block.body, new_scope)

        def inverse(new_scope: Any = scope) -> str:
            return self._nodes(block.inverse, new_scope)

        handler = _BLOCKS.get(name)
        if handler is not None:
            return handler(self, args, body, inverse)
        # A block over a value (Handlebars' default): a list iterates, truthy renders once.
        value = self._value(expr.name, scope) if not args else _UNDEFINED
        if isinstance(value, list | tuple):
            return "".join(body(v) for v in value) if value else inverse()
        return body(value if isinstance(value, Mapping) else scope) if truthy(value) \
            else inverse()

    # -- helper support --

    def set_session(self, path: str, value: Any) -> None:
        top = _set_path(self.session, path, value)
        self.changes[top] = self.session[top]

    def user_language(self) -> str:
        context = self.session.get("qnabotcontext")
        if isinstance(context, Mapping):
            for key in ("userPreferredLocale", "userLocale"):
                if isinstance(context.get(key), str) and context[key]:
                    return context[key]
        return self.ctx.locale.split("_")[0].split("-")[0].lower()


def slot_value(slot: Any) -> Any:
    """A Lex V2 slot as QnABot's ``Slots`` shows it: its interpreted value."""
    if isinstance(slot, Mapping):
        value = slot.get("value")
        if isinstance(value, Mapping):
            return value.get("interpretedValue") or value.get("originalValue") or _UNDEFINED
        if "interpretedValue" in slot:
            return slot["interpretedValue"]
        return _UNDEFINED
    return _UNDEFINED if slot is None else slot


# --- helpers ---------------------------------------------------------------------------------

def _default(args: Sequence[Any], index: int) -> Any:
    return args[index] if len(args) > index else _UNDEFINED


def _set_session_attr(r: Renderer, args: list[Any]) -> str:
    if args:
        r.set_session(to_text(args[0]), "".join(to_text(a) for a in args[1:]))
    return ""


def _get_session_attr(r: Renderer, args: list[Any]) -> Any:
    found = _lookup(r.session, to_text(_default(args, 0)))
    return _default(args, 1) if found is _UNDEFINED else found


def _get_slot(r: Renderer, args: list[Any]) -> Any:
    found = _lookup(r.root["Slots"], to_text(_default(args, 0)))
    return _default(args, 1) if found is _UNDEFINED else found


def _sign_s3_url(r: Renderer, args: list[Any]) -> SafeString:
    url = to_text(_default(args, 0))
    if r.ctx.sign_url is not None and url:
        try:
            url = r.ctx.sign_url(url)
        except Exception as exc:  # noqa: BLE001 - an unsigned link beats a failed turn
            log.warning("could not sign %s: %s", url, exc)
    return SafeString(url)


def _random_pick(r: Renderer, args: list[Any]) -> Any:
    return r._rng.choice(args) if args else _UNDEFINED


def _case(convert: Callable[[str], str]) -> Callable[[Renderer, list[Any]], Any]:
    def helper(_r: Renderer, args: list[Any]) -> Any:
        value = _default(args, 0)
        if value is _UNDEFINED:
            return _UNDEFINED
        if value is None:
            return False
        return convert(to_text(value))
    return helper


def _title_case(text: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in text.lower().split(" "))


def _reset_lang(r: Renderer, args: list[Any]) -> Any:
    context = r.session.get("qnabotcontext")
    if isinstance(context, dict):
        context["userPreferredLocale"] = ""
        r.changes["qnabotcontext"] = context
    return _default(args, 0)


def _lookup_helper(_r: Renderer, args: list[Any]) -> Any:
    return _lookup(_default(args, 0), to_text(_default(args, 1)))


_HELPERS: dict[str, Callable[[Renderer, list[Any]], Any]] = {
    "setSessionAttr": _set_session_attr,
    "getSessionAttr": _get_session_attr,
    "getSlot": _get_slot,
    "getQuestion": lambda r, _args: r.ctx.matched_question or _UNDEFINED,
    "signS3URL": _sign_s3_url,
    "randomPick": _random_pick,
    "toLowerCase": _case(str.lower),
    "toUpperCase": _case(str.upper),
    "toTitleCase": _case(_title_case),
    "resetLang": _reset_lang,
    "lookup": _lookup_helper,
}

BlockHandler = Callable[[Renderer, list[Any], Callable[..., str], Callable[..., str]], str]


def _if_cond(_r: Renderer, args: list[Any], body: Callable[..., str],
             inverse: Callable[..., str]) -> str:
    left, operator, right = (list(args) + [_UNDEFINED] * 3)[:3]
    return body() if truthy(compare(left, operator, right)) else inverse()


def _if_lang(r: Renderer, args: list[Any], body: Callable[..., str],
             _inverse: Callable[..., str]) -> str:
    language = to_text(_default(args, 0))
    if language and language == r.user_language():
        r._matched_language = True
        return body()
    return ""


def _default_lang(r: Renderer, _args: list[Any], body: Callable[..., str],
                  inverse: Callable[..., str]) -> str:
    matched, r._matched_language = r._matched_language, False
    return inverse() if matched else body()


def _set_lang(r: Renderer, args: list[Any], body: Callable[..., str],
              _inverse: Callable[..., str]) -> str:
    """QnABot's ``setLang``: when the user named this language, make it their language."""
    enabled = str(r.ctx.settings.get("ENABLE_MULTI_LANGUAGE_SUPPORT", "false")).lower() == "true"
    if not enabled:
        log.warning("setLang used while ENABLE_MULTI_LANGUAGE_SUPPORT is false")
        return ""
    language, last = to_text(_default(args, 0)), _default(args, 1) is True
    said = LANGUAGES.get(r.ctx.input_transcript.strip().lower())
    if said is None and not r._language_error_shown:
        r._language_error_shown = True
        return "Sorry, that language is not supported."
    if said is not None and said == language:
        context = r.session.get("qnabotcontext")
        context = dict(context) if isinstance(context, Mapping) else {}
        context.update(userPreferredLocale=said, userLocale=said)
        r.session["qnabotcontext"] = context
        r.changes["qnabotcontext"] = context
        return body()
    if last and said != r.user_language() and not r._language_error_shown:
        return "Sorry, that language is not supported."
    return ""


def _if(_r: Renderer, args: list[Any], body: Callable[..., str],
        inverse: Callable[..., str]) -> str:
    return body() if truthy(_default(args, 0)) else inverse()


def _unless(_r: Renderer, args: list[Any], body: Callable[..., str],
            inverse: Callable[..., str]) -> str:
    return inverse() if truthy(_default(args, 0)) else body()


def _each(_r: Renderer, args: list[Any], body: Callable[..., str],
          inverse: Callable[..., str]) -> str:
    value = _default(args, 0)
    if isinstance(value, Mapping):
        value = list(value.values())
    if not isinstance(value, list | tuple) or not value:
        return inverse()
    return "".join(body(item) for item in value)


def _with(_r: Renderer, args: list[Any], body: Callable[..., str],
          inverse: Callable[..., str]) -> str:
    value = _default(args, 0)
    return body(value) if truthy(value) else inverse()


_BLOCKS: dict[str, BlockHandler] = {
    "ifCond": _if_cond,
    "ifLang": _if_lang,
    "defaultLang": _default_lang,
    "setLang": _set_lang,
    "ifLex": lambda _r, _a, body, _inv: body(),
    "ifAlexa": lambda _r, _a, _body, inverse: inverse(),
    "if": _if,
    "unless": _unless,
    "each": _each,
    "with": _with,
}


def render_template(template: str, ctx: TemplateContext) -> str:
    """``template`` rendered on its own (session changes are discarded)."""
    return Renderer(ctx).render(template)
