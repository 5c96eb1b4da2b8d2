"""QnABot's Excel import format: one item per row, on every sheet of an ``.xlsx`` workbook.

The first row of each sheet names the columns. As in QnABot:

* a column may hold any item field by its JSON name (``qid``, ``a``, ``t``,
  ``kendraRedirectQueryText``, ...); a dotted name is a nested field
  (``alt.markdown``, ``botRouting.specialty_bot``);
* friendly names stand for common fields: ``question`` (``q``), ``answer`` (``a``), ``topic``
  (``t``), ``markdown`` (``alt.markdown``) and ``ssml`` (``alt.ssml``), each used only when the
  field's own column is absent or empty;
* further questions go in ``question1``, ``question2``, ... (read up to the first gap), line
  breaks turned into spaces;
* ``cardtitle`` makes a response card, with ``imageurl`` (or ``cardimageurl``, as QnABot's guide
  names it), ``cardsubtitle`` and buttons from
  ``displaytext1``/``buttonvalue1``, ``displaytext2``/``buttonvalue2``, ...

Each row becomes the item QnABot would build, and is then validated like an item of a JSON file
(:func:`knowledge.items.parse_item`), so a bad row gets the same per-item problems, located by
sheet and row. Empty rows are skipped.

Example:
    >>> row_to_item({"qid": "A.1", "question": "Hi", "question1": "Hello\\nthere", "answer": "Hey",
    ...              "cardtitle": "Pick", "displaytext1": "Yes", "buttonvalue1": "yes"})
    {'qid': 'A.1', 'q': ['Hi', 'Hello there'], 'a': 'Hey', 'r': {'title': 'Pick', 'buttons': [{'text': 'Yes', 'value': 'yes'}]}}
"""  # noqa: E501

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from knowledge.nested import set_nested

#: Friendly column names and the fields they stand for (matched ignoring case).
FRIENDLY_COLUMNS = {"question": "q", "topic": "t", "markdown": "alt.markdown", "answer": "a",
                    "ssml": "alt.ssml"}
_NUMBERED_QUESTION = re.compile(r"^question(\d+)$", re.I)


class ExcelFileError(ValueError):
    """The workbook cannot be read at all."""


def _cell(value: Any) -> Any:
    """A cell as QnABot's reader gives it: text, with whole numbers written without ``.0``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None




def row_to_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The QnABot item of one spreadsheet row (column name -> cell value)."""
    cells = {name: value for name, value in row.items() if value is not None}
    lower = {name.lower(): name for name in cells}
    for friendly, target in FRIENDLY_COLUMNS.items():
        source = lower.get(friendly)
        if source is not None and source != target and target not in cells:
            cells[target] = cells.pop(source)
    questions = [cells.pop("q")] if "q" in cells else []
    numbered = {int(m.group(1)): name for name in cells
                if (m := _NUMBERED_QUESTION.match(name))}
    counter = 1
    while counter in numbered:
        questions.append(re.sub(r"\r\n|\n|\r", " ", str(cells.pop(numbered[counter]))))
        counter += 1
    for name in numbered.values():
        cells.pop(name, None)  # after a gap, as in QnABot: not read
    item: dict[str, Any] = {}
    card = _card(cells)
    for name, value in cells.items():
        if name == "q":
            continue
        set_nested(item, name.split("."), value)
    if questions:
        item = {"qid": item.pop("qid"), "q": questions, **item} if "qid" in item else \
            {"q": questions, **item}
    if card:
        item["r"] = card
    return item


def _card(cells: dict[str, Any]) -> dict[str, Any] | None:
    """The response card of a row's ``cardtitle`` columns (removed from ``cells``)."""
    lower = {name.lower(): name for name in cells}

    def take(name: str) -> Any:
        key = lower.get(name)
        return cells.pop(key) if key is not None else None

    title = take("cardtitle")
    if title is None:
        return None
    card: dict[str, Any] = {"title": title}
    image = take("imageurl") or take("cardimageurl")
    subtitle = take("cardsubtitle") or take("subtitle")
    if image is not None:
        card["imageUrl"] = image
    if subtitle is not None:
        card["subTitle"] = subtitle
    buttons = []
    number = 1
    while True:
        text, value = take(f"displaytext{number}"), take(f"buttonvalue{number}")
        if text is None and value is None:
            break
        if text is not None and value is not None:
            buttons.append({"text": str(text), "value": str(value)})
        number += 1
    if buttons:
        card["buttons"] = buttons
    return card


def read_workbook(path: str | Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(sheet name, row number, item) for every non-empty row after each sheet's header.

    Raises :class:`ExcelFileError` when the file is not a readable workbook.
    """
    from openpyxl import load_workbook  # lazily: only Excel imports need it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise ExcelFileError(f"is not a readable Excel workbook ({exc})") from None
    try:
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                continue
            names = [str(h).strip() if h is not None else "" for h in header]
            for number, values in enumerate(rows, start=2):
                row = {name: _cell(value) for name, value in zip(names, values, strict=False)
                       if name}
                if all(value is None for value in row.values()):
                    continue
                yield sheet.title, number, row_to_item(row)
    finally:
        workbook.close()
