"""A small headless-Chromium driver over the Chrome DevTools Protocol, for the browser test.

It starts Debian's ``chromium`` with a fresh profile and no network extras, talks CDP over the
page's websocket (``websocket-client``), and acts as a person would: real mouse clicks at an
element's centre, typed text, file choosers. Every wait polls a condition against a deadline;
nothing sleeps for a fixed time.

Example:
    >>> with Browser.launch(tmp_path) as browser:  # doctest: +SKIP
    ...     browser.open("http://127.0.0.1:8000/chat")
    ...     browser.type("#question", "Hello")
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio",
    "--window-size=1280,900", "--remote-debugging-port=0", "--remote-allow-origins=*",
)


def find_chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(AssertionError):
    """A wait ran out or the page reported an error; the message says what was awaited."""


def poll(condition, *, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Call ``condition`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BrowserError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, process: subprocess.Popen, socket: websocket.WebSocket):
        self.process = process
        self.socket = socket
        self._ids = itertools.count(1)
        self.console_errors: list[str] = []

    @classmethod
    def launch(cls, profile: Path, chromium: str | None = None) -> Browser:
        binary = chromium or find_chromium()
        if binary is None:
            raise BrowserError("chromium is not installed")
        profile.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        try:
            poll(lambda: port_file.exists() and port_file.read_text().strip(), timeout=30,
                 what="Chromium to open its DevTools port")
            port = int(port_file.read_text().split()[0])

            def page_socket_url() -> str | None:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                return pages[0]["webSocketDebuggerUrl"] if pages else None

            url = poll(page_socket_url, timeout=15, what="Chromium's first page")
            socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        except BaseException:
            process.kill()
            raise
        browser = cls(process, socket)
        browser.send("Page.enable")
        browser.send("Runtime.enable")
        return browser

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.kill()
            self.process.wait(timeout=10)

    # --- protocol ---------------------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its result (events met on the way are noted)."""
        message_id = next(self._ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.console_errors.append(
                    (details.get("exception") or {}).get("description") or details.get("text", ""))
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    # --- what a person does -----------------------------------------------------------------

    def open(self, url: str, timeout: float = 30) -> None:
        self.send("Page.navigate", url=url)
        poll(lambda: self.evaluate("document.readyState === 'complete' && location.href")
             and self.evaluate("location.href").startswith(url.split("#")[0]),
             timeout=timeout, what=f"{url} to load")

    def wait_for(self, expression: str, *, timeout: float = 30, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        return poll(lambda: self.evaluate(expression), timeout=timeout, what=what or expression)

    def text(self, selector: str) -> str:
        return self.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText"
                             " || ''")

    def click(self, selector: str, timeout: float = 15) -> None:
        """A real mouse click at the centre of the first visible, enabled element."""
        script = f"""(() => {{
            const node = document.querySelector({json.dumps(selector)});
            if (!node || node.disabled) return null;
            node.scrollIntoView({{block: "center"}});
            const box = node.getBoundingClientRect();
            if (!box.width || !box.height) return null;
            return [box.left + box.width / 2, box.top + box.height / 2];
        }})()"""
        x, y = poll(lambda: self.evaluate(script), timeout=timeout,
                    what=f"{selector} to be clickable")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def type(self, selector: str, text: str, *, replace: bool = True) -> None:
        """Focus a field (clearing it first) and type ``text`` into it."""
        self.click(selector)
        if replace:
            self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", text=text)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                      windowsVirtualKeyCode=13, text="\r" if kind == "keyDown" else None)

    def choose_file(self, selector: str, path: Path) -> None:
        """Pick ``path`` in a file input, as the file chooser would."""
        document = self.send("DOM.getDocument")
        node = self.send("DOM.querySelector", nodeId=document["root"]["nodeId"], selector=selector)
        self.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[str(path)])

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
