"""The Handlebars subset QnABot answers use, rendered safely (no code, no file or network).

Content written for QnABot personalises answers with Handlebars, as the tutorial's
``Handlebars.001`` item does. This renders the common part of it:

* values: ``{{UserInfo.InteractionCount}}``, ``{{UserInfo.TimeSinceLastInteraction}}``
  (seconds), ``{{UserInfo.UserId}}``, ``{{SessionAttributes.<name>}}``, ``{{Question}}``,
  ``{{LexOrAlexa}}`` (``LEX``);
* helpers: ``{{getSessionAttr 'name' 'default'}}``, ``{{randomPick 'a' 'b' ...}}``;
* blocks: ``{{#ifCond A 'op' B}}...{{else}}...{{/ifCond}}`` (ops ``== != < <= > >= && ||``),
  ``{{#ifLex}}...{{/ifLex}}`` and ``{{#ifAlexa}}...{{/ifAlexa}}``, nestable.

Unknown names render as empty text, as in Handlebars; a template that does not parse is left as
written. Only curated answers are rendered: LLM output and user text never are.

Example:
    >>> render_template("Hi {{SessionAttributes.name}}, visit {{UserInfo.InteractionCount}}.",
    ...                 TemplateContext(interaction_count=3, session={"name": "Jo"}))
    'Hi Jo, visit 3.'
    >>> render_template("{{#ifCond UserInfo.InteractionCount '>' 1}}Welcome back{{else}}Hello"
    ...                 "{{/ifCond}}", TemplateContext(interaction_count=1))
    'Hello'
"""

from __future__ import annotations

import random
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TAG = re.compile(r"\{\{\{?\s*(.*?)\s*\}?\}\}", re.S)
_BLOCKS = ("ifCond", "ifLex", "ifAlexa")


@dataclass(frozen=True)
class TemplateContext:
    """What templates may read about the turn."""

    interaction_count: int = 0
    seconds_since_last: float = 0.0
    user_id: str = ""
    question: str = ""
    session: Mapping[str, Any] = field(default_factory=dict)


class TemplateError(ValueError):
    """The template does not parse (unbalanced blocks)."""


def _value(token: str, ctx: TemplateContext) -> Any:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    try:
        return float(token) if "." in token else int(token)
    except ValueError:
        pass
    values = {
        "UserInfo.InteractionCount": ctx.interaction_count,
        "UserInfo.TimeSinceLastInteraction": round(ctx.seconds_since_last),
        "UserInfo.UserId": ctx.user_id,
        "UserInfo.UserName": ctx.user_id,
        "Question": ctx.question,
        "LexOrAlexa": "LEX",
    }
    if token in values:
        return values[token]
    if token.startswith("SessionAttributes."):
        value = ctx.session.get(token.split(".", 1)[1], "")
        return value if isinstance(value, str | int | float) else ""
    return ""


def _compare(left: Any, op: str, right: Any) -> bool:
    try:
        if op in ("<", "<=", ">", ">="):
            left, right = float(left), float(right)
    except (TypeError, ValueError):
        return False
    return {
        "==": lambda: str(left) == str(right), "===": lambda: str(left) == str(right),
        "!=": lambda: str(left) != str(right), "!==": lambda: str(left) != str(right),
        "<": lambda: left < right, "<=": lambda: left <= right,
        ">": lambda: left > right, ">=": lambda: left >= right,
        "&&": lambda: bool(left) and bool(right), "||": lambda: bool(left) or bool(right),
    }.get(op, lambda: False)()


def _split(expression: str) -> list[str]:
    try:
        return shlex.split(expression, posix=False)
    except ValueError:
        return expression.split()


def _expression(expression: str, ctx: TemplateContext) -> str:
    parts = _split(expression)
    if not parts:
        return ""
    name, args = parts[0], [_value(a, ctx) for a in parts[1:]]
    if name == "getSessionAttr":
        key = str(args[0]) if args else ""
        default = str(args[1]) if len(args) > 1 else ""
        value = ctx.session.get(key)
        return str(value) if isinstance(value, str | int | float) and value != "" else default
    if name == "randomPick":
        return str(random.choice(args)) if args else ""
    if name.startswith(("#", "/", "else", ">", "!")):
        return ""
    value = _value(name, ctx)
    return str(value)


def _parse(tokens: list[tuple[str, str]], position: int, closing: str | None):
    """Nodes until ``{{/closing}}``; returns (nodes, position after the closing tag)."""
    nodes: list[Any] = []
    while position < len(tokens):
        kind, value = tokens[position]
        position += 1
        if kind == "text":
            nodes.append(("text", value))
            continue
        if value.startswith("/"):
            if value[1:].strip() != closing:
                raise TemplateError(f"unexpected {{{{{value}}}}}")
            return nodes, position
        if value.startswith("#"):
            name, *rest = _split(value[1:])
            if name not in _BLOCKS:
                raise TemplateError(f"unknown block {name}")
            body, position = _parse(tokens, position, name)
            index = next((i for i, n in enumerate(body) if n[0] == "else"), len(body))
            then, otherwise = body[:index], body[index + 1:]
            nodes.append(("block", name, rest, then, otherwise))
            continue
        if value == "else":
            nodes.append(("else",))
            continue
        nodes.append(("expr", value))
    if closing is not None:
        raise TemplateError(f"{{{{#{closing}}}}} is not closed")
    return nodes, position


def _render(nodes: list[Any], ctx: TemplateContext) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "expr":
            out.append(_expression(node[1], ctx))
        elif node[0] == "block":
            _, name, args, then, otherwise = node
            if name == "ifCond":
                values = [_value(a, ctx) for a in args] + ["", "", ""]
                chosen = _compare(values[0], str(values[1]), values[2])
            else:
                chosen = name == "ifLex"
            out.append(_render(then if chosen else otherwise, ctx))
    return "".join(out)


def render_template(template: str, ctx: TemplateContext) -> str:
    """``template`` rendered; returned unchanged when it has no tags or does not parse."""
    if "{{" not in template:
        return template
    tokens: list[tuple[str, str]] = []
    last = 0
    for match in _TAG.finditer(template):
        tokens.append(("text", template[last:match.start()]))
        tokens.append(("tag", match.group(1)))
        last = match.end()
    tokens.append(("text", template[last:]))
    try:
        nodes, _ = _parse(tokens, 0, None)
    except TemplateError:
        return template
    return _render(nodes, ctx)
