"""End to end, as a person would: ``qnabot serve`` on a free port, driven in headless Chromium.

The knowledge base starts with the blog samples (imported with ``qnabot import``) and the real
local embedding model. Screenshots go to ``artifacts/screenshots/``. The last test serves the
pages under a ``/prod/`` prefix, as API Gateway does, through a small forwarding proxy.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from content_designer.local_server import make_server
from fulfillment import metrics_sqlite
from knowledge.settings import REGISTRY
from tests.content_designer.cdp import Browser, find_chromium, poll
from tests.content_designer.conftest import FIXTURES, TOKEN

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


class Server:
    """``qnabot serve`` in a subprocess; its URL and token come from what it prints."""

    def __init__(self, home: Path):
        self.home = home
        env = {**os.environ, "QNABOT_HOME": str(home), "QNABOT_METRICS": "sqlite"}
        env.pop("EMBEDDINGS_API", None)  # the real local model, as `make run` uses
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = poll(lambda: self._printed(r"QnABot is serving (\S+)"), timeout=120,
                        what="`qnabot serve` to start")
        self.token = poll(lambda: self._printed(r"admin token .*: (\S+)$"), timeout=10,
                          what="the admin token to be printed")

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _printed(self, pattern: str) -> str | None:
        while not self.lines.empty():
            self.output.append(self.lines.get())
        if self.process.poll() is not None and self.lines.empty():
            raise AssertionError("qnabot serve exited:\n" + "\n".join(self.output))
        for line in self.output:
            match = re.search(pattern, line)
            if match:
                return match.group(1)
        return None

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("browser-home")
    env = {**os.environ, "QNABOT_HOME": str(home)}
    env.pop("EMBEDDINGS_API", None)
    subprocess.run([sys.executable, "-m", "cli.main", "import",
                    str(FIXTURES / "blog-samples-final.json")],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    running = Server(home)
    yield running
    running.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with Browser.launch(tmp_path / "chromium-profile") as opened:
        yield opened
        assert not opened.console_errors, opened.console_errors


def bot_turns(browser: Browser) -> int:
    return browser.evaluate("document.querySelectorAll('.turn.bot:not(.pending)').length")


def last_answer(browser: Browser) -> dict:
    return browser.evaluate("""(() => {
        const turns = document.querySelectorAll('.turn.bot:not(.pending)');
        const last = turns[turns.length - 1];
        return {qid: last.dataset.qid, text: last.querySelector('.bubble').innerText};
    })()""")


def ask(browser: Browser, question: str) -> dict:
    """Type a question, press Send, wait for its answer."""
    before = bot_turns(browser)
    browser.type("#question", question)
    browser.click("#send")
    browser.wait_for(f"document.querySelectorAll('.turn.bot:not(.pending)').length > {before}",
                     timeout=60, what=f"the answer to {question!r}")
    return last_answer(browser)


def answer_people_do_not_wait_for(browser: Browser) -> None:
    """Dialogs (confirm, prompt) answer yes at once, as the person clicking through would."""
    browser.evaluate("window.confirm = () => true; window.prompt = (m, d) => d; true")


#: A stand-in for the server's chat/stream (C3): two partial events then the final reply, or
#: a 404 when window.streamStatus says so; the pending bubble's text is noted at each partial.
STREAMING_SERVER = """
window.QNABOT_CONFIG = {...window.QNABOT_CONFIG, streaming: true};
window.realFetch = window.realFetch || window.fetch;
window.partialsSeen = [];
window.streamStatus = 200;
window.fetch = (url, init) => {
  if (url !== "chat/stream") return window.realFetch(url, init);
  if (window.streamStatus !== 200) return Promise.resolve(new Response("{}", {status: 404}));
  const final = {messages: [], sessionState: {}, display: {html: "<p>Streamed final answer</p>",
                 text: "Streamed final answer", qid: "Stream.1", got_answer: true, card: null}};
  const events = ['event: partial\\ndata: {"text": "Streamed"}\\n\\n',
                  'event: partial\\ndata: {"text": "Streamed partial"}\\n\\n',
                  `event: final\\ndata: ${JSON.stringify(final)}\\n\\n`];
  const body = new ReadableStream({async pull(controller) {
    const next = events.shift();
    if (next === undefined) { controller.close(); return; }
    await new Promise((resolve) => setTimeout(resolve, 30));
    const pending = document.querySelector('.turn.pending .partial');
    if (pending && pending.textContent) window.partialsSeen.push(pending.textContent);
    controller.enqueue(new TextEncoder().encode(next));
  }});
  return Promise.resolve(new Response(body, {headers: {"Content-Type": "text/event-stream"}}));
};
true
"""


def test_chat_page_welcomes_answers_reads_aloud_and_takes_feedback(server, browser):
    browser.open(server.url + "/chat")
    browser.wait_for("document.querySelectorAll('.turn.bot.welcome').length === 1",
                     timeout=60, what="the welcome message")
    assert last_answer(browser)["text"].startswith("Greetings friendly human")  # Hello item

    answer = ask(browser, "Tell me about the Alexa device with the screen")
    assert answer["qid"] == "Alexa.001"
    assert "Echo Show brings you everything you love about Alexa" in answer["text"]
    assert browser.evaluate("document.querySelector('.card img').src").startswith("https://")
    browser.screenshot(SCREENSHOTS / "chat-answer.png")

    browser.click(".card-button[data-value='What is Amazon Fire TV?']")
    browser.wait_for("document.querySelectorAll('.turn.bot:not(.pending)').length === 3",
                     timeout=60, what="the answer to the card button")
    assert last_answer(browser)["qid"] == "FireTV.001"

    # Thumbs up is QnABot's feedback utterance, sent as a chat turn (contract C4).
    browser.click(".turn.bot:last-child .thumb[data-verdict='up']")
    browser.wait_for("document.querySelectorAll('.turn.bot:not(.pending)').length === 4",
                     timeout=60, what="the reply to the feedback")
    assert browser.text(".turn.user.feedback .bubble") == "Thumbs up"
    assert browser.evaluate("document.querySelector('.thumb.chosen').dataset.verdict") == "up"

    # Answers read aloud come from the item's SSML, aliases spoken as written.
    browser.evaluate("window.spoken = []; window.speechSynthesis.speak = "
                     "(u) => window.spoken.push(u.text); true")
    browser.click("#speak-toggle")
    ask(browser, "What is Q and A Bot")
    spoken = browser.wait_for("window.spoken.length && window.spoken[0]", what="speech")
    assert spoken.startswith("AWS Q and A Bot is great")
    browser.click("#speak-toggle")
    browser.screenshot(SCREENSHOTS / "chat-feedback-and-voice.png")

    # Streaming (contract C3): partial text shows in the pending bubble, the final reply
    # replaces it; a server without chat/stream (404) gets the question through POST chat.
    browser.evaluate(STREAMING_SERVER)
    answer = ask(browser, "What is Amazon Fire TV?")
    assert answer["text"].startswith("Streamed final answer")
    assert browser.evaluate("window.partialsSeen") == ["Streamed", "Streamed partial"]
    browser.evaluate("window.streamStatus = 404; true")
    assert ask(browser, "What is Amazon Fire TV?")["qid"] == "FireTV.001"
    browser.evaluate("window.fetch = window.realFetch; window.QNABOT_CONFIG = "
                     "{...window.QNABOT_CONFIG, streaming: false}; true")

    browser.open(server.url + "/chat")  # a reload keeps the conversation
    browser.wait_for("document.querySelectorAll('.turn.bot').length === 7",
                     what="the transcript to come back after a reload")
    browser.send("Emulation.setDeviceMetricsOverride", width=390, height=844,
                 deviceScaleFactor=2, mobile=True)
    browser.open(server.url + "/chat")
    browser.wait_for("document.querySelectorAll('.turn.bot').length === 7", what="the phone page")
    # On a phone the question box and Send stay on screen, nothing scrolls sideways.
    assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert browser.evaluate("document.getElementById('send').getBoundingClientRect().bottom"
                            " <= window.innerHeight")
    browser.screenshot(SCREENSHOTS / "chat-phone.png")


def test_a_question_nothing_answers_alone_offers_did_you_mean_buttons(server, browser):
    browser.open(server.url + "/chat")
    browser.wait_for("document.querySelectorAll('.turn.bot.welcome').length === 1",
                     timeout=60, what="the welcome message")
    answer = ask(browser, "how much is it")  # stored as "How much does it cost?" in 2 topics
    assert answer["text"].startswith("You stumped me")
    labels = browser.evaluate("[...document.querySelectorAll('.turn.bot:last-child "
                              ".card-button')].map((b) => b.textContent)")
    assert labels == ["How much does it cost? (EchoShow)", "How much does it cost? (QnABot)"]
    browser.screenshot(SCREENSHOTS / "chat-did-you-mean.png")
    browser.click(".turn.bot:last-child .card-button[data-value='QID::Alexa.Cost']")
    browser.wait_for("document.querySelectorAll('.turn.bot:not(.pending)').length === 3",
                     timeout=60, what="the answer to the tapped suggestion")
    assert last_answer(browser)["qid"] == "Alexa.Cost"
    # the transcript shows what the person tapped, not the QID:: reference sent
    assert browser.evaluate("[...document.querySelectorAll('.turn.user .bubble')]"
                            ".map((b) => b.textContent).pop()") == \
        "How much does it cost? (EchoShow)"


def test_designer_finds_edits_renames_duplicates_and_deletes_items(server, browser):
    browser.open(f"{server.url}/designer#token={server.token}")
    browser.wait_for("document.querySelectorAll('#items-table tbody tr[data-qid]').length > 0",
                     what="the items table")
    answer_people_do_not_wait_for(browser)
    browser.type("#item-query", "ECHO show BRINGS")  # words of an answer, any case
    browser.wait_for("document.getElementById('match-count').dataset.total === '1'",
                     what="the search to narrow the list")
    assert browser.text("#items-table tbody tr[data-qid] td.qid") == "Alexa.001"
    browser.click("#item-query")
    browser.evaluate("document.getElementById('item-query').select()")
    browser.send("Input.dispatchKeyEvent", type="keyDown", key="Backspace", code="Backspace",
                 windowsVirtualKeyCode=8)
    browser.send("Input.dispatchKeyEvent", type="keyUp", key="Backspace", code="Backspace",
                 windowsVirtualKeyCode=8)
    browser.wait_for("Number(document.getElementById('match-count').dataset.total) >= 20",
                     what="every item again")
    browser.click("button.sort[data-sort='qid']")  # qid, descending
    browser.wait_for("!!document.querySelector('#items-table th[aria-sort=descending]')",
                     what="the sorted column")
    browser.screenshot(SCREENSHOTS / "designer-items.png")

    browser.click("#new-item")
    browser.wait_for("!!document.querySelector('#field-qid')", what="the item form")
    browser.type("#field-qid", "Ferry Times")  # a space: not a valid qid
    browser.type("#field-q-0-", "When does the ferry leave?")
    browser.type("#field-a", "Every 30 minutes from 6 am.")
    browser.click("#save-item")
    browser.wait_for("document.querySelector('[data-field=qid] .field-error').innerText"
                     ".includes('spaces')", what="the problem shown next to the qid")
    assert browser.text("#editor-status").startswith("Not saved")
    browser.type("#field-qid", "Ferry.Times")
    browser.evaluate("document.getElementById('advanced').open = true")
    browser.type("#field-r-title", "Ferry timetable")
    browser.wait_for("document.querySelector('#preview .card-title') && "
                     "document.querySelector('#preview .card-title').innerText === "
                     "'Ferry timetable'", what="the preview of the card")
    browser.screenshot(SCREENSHOTS / "designer-item-form.png")
    browser.click("#save-item")
    browser.wait_for("document.getElementById('editor-status').innerText === 'Saved.'",
                     what="the item to be saved")
    assert server.api("GET", "/items/Ferry.Times")["r"]["title"] == "Ferry timetable"

    browser.type("#field-qid", "Ferry.Timetable")  # a new qid renames, after confirmation
    browser.click("#save-item")
    browser.wait_for("document.getElementById('editor-status').innerText === 'Saved.'",
                     what="the renamed item to be saved")
    assert server.api("GET", "/items/Ferry.Timetable")["q"] == ["When does the ferry leave?"]
    assert _status(server, "/items/Ferry.Times") == 404

    browser.click("#view-json")  # the JSON view stays for experts
    assert json.loads(browser.evaluate("document.getElementById('item-json').value"))[
        "qid"] == "Ferry.Timetable"
    browser.click("#view-form")
    browser.click("#duplicate-item")  # prompt answers its suggestion: Ferry.Timetable-copy
    browser.wait_for("document.getElementById('field-qid').value === 'Ferry.Timetable-copy'",
                     what="the copy in the editor")
    browser.click("#save-item")
    browser.wait_for("document.getElementById('editor-status').innerText === 'Saved.'",
                     what="the copy to be saved")
    browser.click("#close-editor")

    browser.type("#item-query", "ferry leave")
    browser.wait_for("document.getElementById('match-count').dataset.total === '2'",
                     what="the item and its copy")
    browser.click("#select-all")
    browser.click("#delete-selected")
    browser.wait_for("document.getElementById('match-count').dataset.total === '0'",
                     what="both deleted")
    assert _status(server, "/items/Ferry.Timetable-copy") == 404


def test_designer_imports_tests_tunes_and_changes_settings(server, browser, tmp_path):
    browser.open(f"{server.url}/designer#token={server.token}")
    browser.wait_for("!!document.getElementById('kb-count').dataset.count", what="the count")
    answer_people_do_not_wait_for(browser)

    browser.click("[data-tab='import']")
    browser.choose_file("#import-file", FIXTURES / "TextPassage-NurseryRhymeExamples.json")
    browser.click("#import-button")
    browser.wait_for("document.getElementById('import-state').dataset.state === 'succeeded'",
                     timeout=120, what="the import job to finish")
    assert browser.text("#import-counts [data-count='stored'] dd") == "2"
    browser.choose_file("#import-file", FIXTURES / "import-fail-expected.json")
    browser.click("#import-button")
    browser.wait_for("document.getElementById('import-state').innerText"
                     ".startsWith('import-fail-expected.json: succeeded')",
                     timeout=60, what="the import of the file of invalid items")
    assert browser.text("#import-counts [data-count='rejected'] dd") == "5"
    browser.click("#export-button")
    browser.wait_for("!document.getElementById('export-link').hidden", timeout=60,
                     what="the export's download link")
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"ES_NO_HITS_QUESTION": "no_hits",
                                         "MY_HOOK_GREETING": "Ahoy"}), encoding="utf-8")
    browser.choose_file("#settings-import-file", settings_file)
    browser.wait_for("document.getElementById('settings-transfer-state').innerText"
                     ".startsWith('2 settings imported')", what="the settings import")
    browser.click("#settings-export-button")
    browser.wait_for("!document.getElementById('settings-export-link').hidden",
                     what="the settings export's download link")
    assert browser.evaluate("document.getElementById('settings-export-link').href"
                            ".startsWith('blob:')")
    exported = server.api("GET", "/settings/export")
    assert exported["MY_HOOK_GREETING"] == "Ahoy"  # a custom setting goes out as it came in
    assert browser.evaluate("document.getElementById('connect-section').hidden")  # AWS only
    browser.screenshot(SCREENSHOTS / "designer-import.png")

    browser.click("[data-tab='test']")
    browser.type("#test-question", "Where did Humpty Dumpty sit before he fell?")
    browser.click("#test-form button[type=submit]")
    browser.wait_for("document.getElementById('test-summary').dataset.best === '0.HumptyDumpty'",
                     what="the TEST tab to find the passage")
    passage = browser.evaluate("document.querySelector('.candidate[data-qid=\"0.HumptyDumpty\"]"
                               " .matched').innerText")
    assert "wall" in passage.lower() and len(passage) < 260  # the sentence, not the passage
    assert browser.evaluate("document.querySelectorAll('.candidate .evidence-row').length") > 0
    # The question stage, where nothing passes, folds away under the answering passage stage.
    assert browser.evaluate("document.querySelector('details.stage[data-stage=questions]').open"
                            " === false")
    browser.screenshot(SCREENSHOTS / "designer-test.png")

    browser.click("[data-tab='testall']")
    browser.click("#test-all-button")
    browser.wait_for("document.getElementById('test-all-state').dataset.state === 'succeeded'",
                     timeout=180, what="the test-all job to finish")
    assert re.search(r"\d+ of 26 questions find their own item", browser.text("#test-all-state"))
    # "How much does it cost?" belongs to two items: expected ambiguity, not a miss.
    assert browser.evaluate("[...document.querySelectorAll('tr.outcome.ambiguous')]"
                            ".some((r) => r.innerText.includes('How much does it cost?'))")
    assert browser.evaluate("document.getElementById('test-all-report').href").startswith("blob:")
    browser.wait_for("document.querySelectorAll('#test-all-history tbody tr').length >= 1",
                     what="the run in the history")

    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("\n".join(json.dumps(c) for c in [
        {"id": "a", "turns": [{"q": "What is Amazon Fire TV?", "expect": {"qid": "FireTV.001"}}]},
        {"id": "b", "turns": [{"q": "How do I back up my content?", "expect": {"qid": "Admin.002"}}]},
        {"id": "c", "turns": [{"q": "What is the capital of Peru?", "expect": {"no_answer": True}}]},
    ]), encoding="utf-8")
    browser.choose_file("#tune-file", labeled)
    browser.click("#tune-button")
    browser.wait_for("document.getElementById('tune-state').dataset.state === 'succeeded'",
                     timeout=300, what="the tuning job to finish")
    assert browser.evaluate("document.querySelectorAll('#tune-chart circle[data-point]').length") == 2
    browser.screenshot(SCREENSHOTS / "designer-tune.png")

    browser.click("[data-tab='settings']")
    field = "#setting-EMBEDDINGS_SCORE_THRESHOLD"
    browser.wait_for(f"!!document.querySelector('{field}')", what="the settings list")
    browser.type("#settings-filter", "threshold")
    browser.type(field, "7")  # out of range: one message, next to the setting
    browser.click("#save-settings")
    browser.wait_for("document.querySelector('[data-setting=EMBEDDINGS_SCORE_THRESHOLD] "
                     ".setting-error').innerText.length > 0", what="the setting's problem")
    assert browser.text("#settings-status").count("EMBEDDINGS_SCORE_THRESHOLD") == 0
    browser.type(field, "0.75")
    browser.click("#save-settings")
    browser.wait_for("document.getElementById('settings-status').innerText.includes('Saved')",
                     what="the settings to be saved")
    assert _threshold(server) == ("0.75", True)
    browser.click("[data-reset='EMBEDDINGS_SCORE_THRESHOLD']")
    default = REGISTRY["EMBEDDINGS_SCORE_THRESHOLD"].default
    browser.wait_for(f"document.querySelector('{field}').value === '{default}'",
                     what="the threshold back at its default")
    browser.screenshot(SCREENSHOTS / "designer-settings.png")


def test_analytics_show_what_users_asked_and_what_went_unanswered(server, browser):
    browser.open(server.url + "/chat")  # a new chat: the page says Hello on its own
    browser.wait_for("document.querySelectorAll('.turn.bot.welcome').length === 1",
                     timeout=60, what="the welcome message")
    for question in ("What is Amazon Fire TV?", "What is the capital of Peru?",
                     "What is the capital of Peru?"):
        server.api("POST", "/chat", {"text": question, "session_id": "analytics-1"})
    # Unanswered, then its asker took the "did you mean" button of Alexa.Cost, as the chat
    # records it (whether this question gets buttons here depends on what the tests before
    # imported and tuned: the chat page's test shows the buttons themselves).
    sink = metrics_sqlite.SqliteMetricsSink(server.home / "metrics.sqlite")
    for utterance, qid, suggested in (("how much is it", "CustomNoMatches",
                                       "Alexa.Cost,QnABot.Cost"),
                                      ("QID::Alexa.Cost", "Alexa.Cost", "")):
        sink.record_turn({"datetime": datetime.now(UTC).isoformat(timespec="milliseconds"),
                          "sessionId": "analytics-2", "utterance": utterance, "qid": qid,
                          "got_hits": int(not suggested), "suggested": suggested,
                          "answerSource": "no_hits" if suggested else "qna"})
    browser.open(f"{server.url}/designer#token={server.token}")
    browser.wait_for("!!document.getElementById('kb-count').dataset.count", what="the designer")
    browser.click("[data-tab='analytics']")
    browser.wait_for("Number(document.getElementById('analytics-cards').dataset.asked) >= 5",
                     what="the analytics")
    # The chat page's welcome turns count as chats opened, not as questions asked.
    assert browser.evaluate("Number(document.getElementById('analytics-cards')"
                            ".dataset.opened)") >= 1
    asked = browser.evaluate("[...document.querySelectorAll('#top-questions tbody tr')]"
                             ".map(row => row.cells[0].textContent)")
    assert "What is Amazon Fire TV?" in asked and "Hello" not in asked
    assert browser.evaluate("document.querySelectorAll('#chart-days rect').length") >= 1
    row = "#top-unanswered tr[data-question='What is the capital of Peru?']"
    browser.wait_for(f"!!document.querySelector(\"{row}\")", what="the unanswered question")
    browser.screenshot(SCREENSHOTS / "designer-analytics.png")
    browser.click(f"{row} .create-item")  # create an item from it
    browser.wait_for("document.getElementById('field-q-0-') && "
                     "document.getElementById('field-q-0-').value === "
                     "'What is the capital of Peru?'", what="a new item with the question")

    # The question that was answered only through a button is one click from its item.
    taken = "#suggestions-taken tr[data-qid='Alexa.Cost']"
    assert browser.evaluate(f"document.querySelector(\"{taken}\").cells[0].textContent") == \
        "how much is it"
    asked = browser.evaluate("[...document.querySelectorAll('#top-questions tbody tr')]"
                             ".map(row => row.cells[0].textContent)")
    assert not [q for q in asked if q.startswith("QID::")]  # a tapped button is no wording
    answer_people_do_not_wait_for(browser)
    browser.click("#close-editor")  # the new item is left unsaved
    browser.evaluate("document.getElementById('suggestions-taken').scrollIntoView(); true")
    browser.screenshot(SCREENSHOTS / "designer-analytics-suggestions.png")
    browser.click(f"{taken} .add-question")
    browser.wait_for("document.getElementById('editor-title').textContent === 'Item Alexa.Cost'"
                     " && document.getElementById('field-q-1-') && "
                     "document.getElementById('field-q-1-').value === 'how much is it'",
                     what="the chosen item with the question added")
    browser.screenshot(SCREENSHOTS / "designer-question-added.png")


@pytest.fixture
def small_read_server(make_services, monkeypatch) -> Iterator[tuple[str, Any]]:
    """The designer in process, over a metrics store that returns 3 records a read at most
    (so a busy week is truncated); (URL, services)."""
    monkeypatch.setattr(metrics_sqlite, "MAX_READ", 3)
    services = make_services(fulfill=None)
    running = make_server(services, "127.0.0.1", 0)
    threading.Thread(target=running.serve_forever, daemon=True).start()
    yield running.url, services
    running.shutdown()
    running.server_close()


def test_analytics_say_when_the_figures_leave_records_out_on_desktop_and_phone(
        small_read_server, browser):
    url, services = small_read_server
    today = datetime.now(UTC).date().isoformat()
    for minute, (text, welcome, got_hits) in enumerate([
            ("Where is the ferry?", False, 1), ("Hello", True, 1),  # older: left out
            ("Hello", True, 1), ("hello", False, 1), ("Capital of Peru?", False, 0)]):
        services.metrics.record_turn({
            "datetime": f"{today}T09:{minute:02d}:00.000+00:00", "sessionId": f"s{minute}",
            "utterance": text, "qid": "Hello.1" if got_hits else "", "got_hits": got_hits,
            "answerSource": "qna" if got_hits else "no_hits", "welcome": welcome})
    for width, height, mobile, name in ((1280, 900, False, "desktop"), (390, 844, True, "phone")):
        browser.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                     deviceScaleFactor=1 if not mobile else 2, mobile=mobile)
        browser.open(f"{url}/designer#token={TOKEN}")
        browser.wait_for("!!document.getElementById('kb-count').dataset.count",
                         what="the designer")
        browser.click("[data-tab='analytics']")
        browser.wait_for("!!document.querySelector('#analytics-error [role=status]')",
                         what="the notice that the figures are partial")
        assert "leave out the oldest records" in browser.text("#analytics-error")
        # the 3 newest records: one chat opened, two questions (a typed hello is one)
        cards = browser.evaluate("({...document.getElementById('analytics-cards').dataset})")
        assert cards == {"asked": "2", "opened": "1"}
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        browser.screenshot(SCREENSHOTS / f"designer-analytics-truncated-{name}.png")


class PrefixProxy(ThreadingHTTPServer):
    """Serves the app under /prod/ (as API Gateway's stage does), refusing any other path."""

    daemon_threads = True

    def __init__(self, target: str):
        self.target = target
        self.outside: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: PrefixProxy

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/site.html":  # somebody's web site, with the documented snippet
            page = (b"<!doctype html><title>Harbor City</title><link rel=icon href=\"data:,\">"
                    b"<h1>Harbor City</h1>"
                    b'<script src="/prod/static/embed.js" defer></script>')
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if not self.path.startswith("/prod/"):
            self.server.outside.append(self.path)
            self.send_error(404, "outside the stage")
            return
        length = int(self.headers.get("Content-Length") or 0)
        request = urllib.request.Request(
            self.server.target + self.path[len("/prod"):], method=self.command,
            data=self.rfile.read(length) if length else None,
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date",
                                    "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


def test_pages_work_under_a_stage_prefix(server, browser):
    proxy = PrefixProxy(server.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{proxy.server_address[1]}/prod"
    try:
        browser.open(base + "/chat")
        browser.wait_for("document.querySelectorAll('.turn.bot.welcome').length === 1",
                         timeout=60, what="the welcome under /prod/")
        assert ask(browser, "What is Amazon Fire TV?")["qid"] == "FireTV.001"
        browser.open(f"{base}/designer#token={server.token}")
        browser.wait_for("document.querySelectorAll('#items-table tbody tr[data-qid]').length > 0",
                         what="the items under /prod/")
        browser.click("#items-table tbody tr[data-qid] td.qid button")
        browser.wait_for("!!document.querySelector('#field-qid')", what="the form under /prod/")
        browser.wait_for("document.getElementById('preview').innerText.trim().length > 0",
                         what="the preview under /prod/")
        browser.screenshot(SCREENSHOTS / "designer-under-prod.png")

        browser.open(f"http://127.0.0.1:{proxy.server_address[1]}/site.html")
        browser.click("#qnabot-embed-button")  # the corner button opens the chat
        browser.wait_for("(() => { const f = document.getElementById('qnabot-embed-frame');"
                         " return !f.hidden && f.contentDocument && f.contentDocument"
                         ".querySelectorAll('.turn.bot.welcome').length === 1; })()",
                         timeout=60, what="the embedded chat's welcome")
        assert browser.evaluate("document.getElementById('qnabot-embed-frame').contentDocument"
                                ".body.classList.contains('embedded')")
        browser.screenshot(SCREENSHOTS / "chat-embedded.png")
        assert proxy.outside == []  # every URL the pages used stayed under the stage
    finally:
        proxy.shutdown()


def _status(server: Server, path: str) -> int:
    try:
        server.api("GET", path)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


def _threshold(server: Server) -> tuple[str, bool]:
    settings = server.api("GET", "/settings")["settings"]
    row = next(s for s in settings if s["name"] == "EMBEDDINGS_SCORE_THRESHOLD")
    return row["value"], row["overridden"]


XSS_ITEM = {
    "qid": "Xss<img/src=x/onerror=window.__xss=1>",
    "q": ["<img src=x onerror=window.__xss=1> tell me the xss answer"],
    "a": "<script>window.__xss=1</script>Plain answer",
    "alt": {"markdown": "**Safe** <img src=x onerror=\"window.__xss=1\"> "
                        "[link](javascript:window.__xss=1) <a href=\"javascript:window.__xss=1\">a</a>"
                        "\n\n<details><summary>Context</summary>\n\nHidden context\n\n</details>"},
    "t": "<svg onload=window.__xss=1>",
    "r": {"title": "<img src=x onerror=window.__xss=1>Card",
          "buttons": [{"text": "<b onmouseover=window.__xss=1>Go</b>", "value": "Hello"}]},
}

INJECTED = ("document.querySelectorAll('[onerror],[onload],[onmouseover],script:not([src]),"
            "svg,a[href^=\"javascript\"]').length")


def test_markup_in_every_field_is_shown_as_text_and_never_runs(server, browser):
    upload = json.dumps({"qna": [XSS_ITEM]}).encode()
    boundary = "xss-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"xss.json\"\r\n\r\n").encode() + upload + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        server.url + "/jobs/import", data=body, method="POST",
        headers={"Authorization": f"Bearer {server.token}",
                 "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        job = json.load(response)
    poll(lambda: server.api("GET", f"/jobs/{job['id']}")["state"] == "succeeded", timeout=60,
         what="the import of the item full of markup")

    browser.open(server.url + "/chat")
    browser.wait_for("document.querySelectorAll('.turn.bot.welcome').length === 1",
                     timeout=60, what="the welcome message")
    assert ask(browser, XSS_ITEM["q"][0])["qid"] == XSS_ITEM["qid"]
    assert browser.evaluate("document.querySelector('.turn.user .bubble').innerText") == \
        XSS_ITEM["q"][0]
    assert browser.evaluate("!!document.querySelector('.answer details summary')")
    browser.click(".answer summary")
    browser.wait_for("document.querySelector('.answer details').open", what="the context to open")
    assert browser.text(".card-title") == "Card"
    assert browser.evaluate(INJECTED) == 0
    assert browser.evaluate("window.__xss") is None
    browser.screenshot(SCREENSHOTS / "chat-markup-inert.png")

    browser.open(f"{server.url}/designer#token={server.token}")
    browser.type("#item-query", "Xss")
    browser.click("#item-search button[type=submit]")
    browser.wait_for("document.querySelectorAll('#items-table tbody tr[data-qid]').length === 1",
                     what="the markup item in the items table")
    assert browser.text("#items-table tbody tr[data-qid] td:nth-child(2)") == XSS_ITEM["qid"]
    browser.click("#items-table tbody tr[data-qid] button.link")
    browser.wait_for("document.getElementById('item-json').value.includes('__xss')",
                     what="the item in the editor")
    browser.wait_for("document.getElementById('preview').innerText.includes('Safe')",
                     what="the preview of the markup answer")
    assert browser.evaluate(INJECTED) == 0
    assert browser.evaluate("window.__xss") is None
    browser.screenshot(SCREENSHOTS / "designer-markup-inert.png")
