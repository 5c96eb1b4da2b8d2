"""End to end, as a person would: ``qnabot serve`` on a free port, driven in headless Chromium.

The knowledge base starts with the blog samples (imported with ``qnabot import``) and the real
local embedding model. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.settings import REGISTRY
from tests.content_designer.cdp import Browser, find_chromium, poll
from tests.content_designer.conftest import FIXTURES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


class Server:
    """``qnabot serve`` in a subprocess; its URL and token come from what it prints."""

    def __init__(self, home: Path):
        env = {**os.environ, "QNABOT_HOME": str(home)}
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
    return browser.evaluate("document.querySelectorAll('.turn.bot').length")


def last_answer(browser: Browser) -> dict:
    return browser.evaluate("""(() => {
        const turns = document.querySelectorAll('.turn.bot');
        const last = turns[turns.length - 1];
        return {qid: last.dataset.qid, text: last.querySelector('.bubble').innerText};
    })()""")


def test_chat_page_answers_a_question_and_a_card_button_asks_the_next(server, browser):
    browser.open(server.url + "/chat")
    browser.type("#question", "Tell me about the Alexa device with the screen")
    browser.click("#send")
    browser.wait_for("document.querySelectorAll('.turn.bot').length === 1", timeout=60,
                     what="the first answer")
    answer = last_answer(browser)
    assert answer["qid"] == "Alexa.001"
    assert "Echo Show brings you everything you love about Alexa" in answer["text"]
    assert browser.evaluate("document.querySelector('.card img').src").startswith("https://")
    browser.screenshot(SCREENSHOTS / "chat-answer.png")

    browser.click(".card-button[data-value='What is Amazon Fire TV?']")
    browser.wait_for("document.querySelectorAll('.turn.bot').length === 2", timeout=60,
                     what="the answer to the card button")
    assert browser.evaluate("document.querySelectorAll('.turn.user')[1].innerText") == \
        "What is Amazon Fire TV?"
    assert last_answer(browser)["qid"] == "FireTV.001"

    browser.click(".turn.bot:last-child .thumb[data-verdict='up']")
    browser.wait_for("document.querySelector('.turn.bot:last-child .feedback-status')"
                     ".innerText.includes('Thanks')", what="the feedback to be saved")
    browser.screenshot(SCREENSHOTS / "chat-card-button.png")
    recorded = server.api("GET", "/feedback")["feedback"]
    assert [(f["qid"], f["verdict"]) for f in recorded][:1] == [("FireTV.001", "up")]

    browser.open(server.url + "/chat")  # a reload keeps the conversation
    browser.wait_for("document.querySelectorAll('.turn.bot').length === 2",
                     what="the transcript to come back after a reload")


def test_designer_imports_a_file_and_changes_then_resets_a_threshold(server, browser):
    browser.open(f"{server.url}/designer#token={server.token}")
    browser.wait_for("document.getElementById('kb-count').dataset.count === '20'",
                     what="the item count of the blog samples")
    browser.wait_for("document.querySelectorAll('#items-table tbody tr[data-qid]').length === 20",
                     what="the items table")
    browser.screenshot(SCREENSHOTS / "designer-items.png")

    browser.click("[data-tab='import']")
    browser.choose_file("#import-file", FIXTURES / "TextPassage-NurseryRhymeExamples.json")
    browser.click("#import-button")
    browser.wait_for("document.getElementById('import-state').dataset.state === 'succeeded'",
                     timeout=120, what="the import job to finish")
    stored = browser.text("#import-counts [data-count='stored'] dd")
    assert stored == "2"
    browser.wait_for("document.getElementById('kb-count').dataset.count === '22'",
                     what="the new item count")
    assert browser.evaluate("document.getElementById('import-progress').value") == 1
    browser.screenshot(SCREENSHOTS / "designer-import.png")

    browser.choose_file("#import-file", FIXTURES / "import-fail-expected.json")
    browser.click("#import-button")
    browser.wait_for("document.getElementById('import-state').innerText"
                     ".startsWith('import-fail-expected.json: succeeded')",
                     timeout=60, what="the import of the file of invalid items")
    assert browser.text("#import-counts [data-count='rejected'] dd") == "5"
    assert browser.evaluate("document.querySelectorAll('#import-problems tbody tr').length") >= 5
    assert browser.evaluate("document.getElementById('kb-count').dataset.count") == "22"
    browser.screenshot(SCREENSHOTS / "designer-import-problems.png")

    browser.click("#export-button")
    browser.wait_for("!document.getElementById('export-link').hidden", timeout=60,
                     what="the export's download link")
    assert browser.evaluate("document.getElementById('export-link').href").startswith("blob:")
    assert browser.text("#export-state") == "22 items exported"
    browser.click("#test-all-button")
    browser.wait_for("document.getElementById('test-all-state').innerText.includes('find their')",
                     timeout=120, what="the test-all job to finish")
    assert re.search(r"\d+ of 26 questions find their own item", browser.text("#test-all-state"))
    browser.screenshot(SCREENSHOTS / "designer-export-test-all.png")

    browser.click("[data-tab='settings']")
    field = "#setting-EMBEDDINGS_SCORE_THRESHOLD"
    browser.wait_for(f"!!document.querySelector('{field}')", what="the settings list")
    browser.type("#settings-filter", "threshold")
    browser.wait_for("document.querySelectorAll('[data-setting]').length < 10",
                     what="the settings filtered by name")
    browser.type(field, "0.75")
    browser.click("#save-settings")
    browser.wait_for("document.getElementById('settings-status').innerText.includes('Saved')",
                     what="the settings to be saved")
    assert _threshold(server) == ("0.75", True)
    assert browser.evaluate(f"document.querySelector('{field}').value") == "0.75"
    browser.screenshot(SCREENSHOTS / "designer-setting-changed.png")

    browser.click("[data-reset='EMBEDDINGS_SCORE_THRESHOLD']")
    default = REGISTRY["EMBEDDINGS_SCORE_THRESHOLD"].default
    browser.wait_for(f"document.querySelector('{field}').value === '{default}'",
                     what="the threshold back at its default")
    assert _threshold(server) == (default, False)
    browser.screenshot(SCREENSHOTS / "designer-setting-reset.png")

    browser.click("[data-tab='test']")
    browser.type("#test-question", "Where did Humpty Dumpty sit before he fell?")
    browser.click("#test-form button[type=submit]")
    browser.wait_for("document.getElementById('test-summary').dataset.best === '0.HumptyDumpty'",
                     what="the TEST tab to find the passage")
    assert browser.evaluate("document.querySelector('#test-results tr.best').dataset.qid") == \
        "0.HumptyDumpty"
    assert browser.evaluate("document.querySelectorAll('#test-results tr.stage-row').length") == 2
    browser.screenshot(SCREENSHOTS / "designer-test.png")


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
    browser.type("#question", XSS_ITEM["q"][0])
    browser.click("#send")
    browser.wait_for("document.querySelectorAll('.turn.bot').length === 1", timeout=60,
                     what="the answer to the markup question")
    assert last_answer(browser)["qid"] == XSS_ITEM["qid"]
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
    browser.type("#qid-filter", "Xss")
    browser.click("#item-search button[type=submit]")
    browser.wait_for("document.querySelectorAll('#items-table tbody tr[data-qid]').length === 1",
                     what="the markup item in the items table")
    assert browser.text("#items-table tbody tr[data-qid] td:nth-child(2)") == XSS_ITEM["qid"]
    browser.click("#items-table tbody tr[data-qid] button.link")
    browser.wait_for("document.getElementById('item-json').value.includes('__xss')",
                     what="the item in the editor")
    assert browser.evaluate(INJECTED) == 0
    assert browser.evaluate("window.__xss") is None
    browser.screenshot(SCREENSHOTS / "designer-markup-inert.png")
