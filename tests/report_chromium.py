"""Load a page in headless Chromium over the DevTools protocol, stdlib only.

Chromium's ``--remote-debugging-pipe`` reads NUL-terminated JSON commands on fd 3 and
writes replies and events on fd 4, so no websocket client (and no port) is needed.
``python tests/report_chromium.py PAGE OUT.png [WIDTH]`` saves a full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]

# Every image's decoded size, and whether the page is wider than the window; then, with every
# <details> opened: the elements that reach past the window's right edge outside a box that scrolls
# sideways, and the scrolling boxes whose content is wider than they are (a table to scroll).
PROBE = """JSON.stringify((() => {
  const out = {
    images: Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    title: document.title
  };
  out.sections = Array.from(document.querySelectorAll('main > section')).map(s => s.id);
  // Tables with two rows of one label: rows a reader cannot tell apart.
  out.repeated = Array.from(document.querySelectorAll('table')).filter(t => {
    const labels = Array.from(t.querySelectorAll('tbody tr > td.label:first-child')).map(td => td.textContent);
    return new Set(labels).size < labels.length;
  }).map(t => t.caption ? t.caption.textContent : '?');
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const scrolls = e => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX);
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '');
  out.overflowing = Array.from(document.body.querySelectorAll('*')).filter(e => {
    if (e.getBoundingClientRect().right <= window.innerWidth + 0.5) return false;
    for (let up = e.parentElement; up && up !== document.body; up = up.parentElement) if (scrolls(up)) return false;
    return true;
  }).map(name);
  out.cut = Array.from(document.body.querySelectorAll('*')).filter(e => scrolls(e) && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.querySelector('caption')?.textContent || e.querySelector('img')?.alt || name(e));
  return out;
})())"""


def available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


@dataclass
class PageCheck:
    images: list[dict[str, Any]]
    scroll_width: int
    inner_width: int
    title: str
    sections: list[str]  # the page's section ids, in order
    repeated: list[str]  # captions of tables where two rows have one label
    overflowing: list[str]  # elements past the window's right edge, outside any box that scrolls sideways
    cut: list[str]  # boxes (their caption) whose content must be scrolled sideways to be seen
    errors: list[str] = field(default_factory=list)     # console errors, exceptions, error log entries
    requests: list[str] = field(default_factory=list)   # every URL the page asked for


class Chromium:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gradbench-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Move the child's ends to fds >= 10, so that moving them onto 3 and 4 cannot clobber either.
        to_child_r, from_child_w = (self._above_ten(fd) for fd in (to_child_r, from_child_w))
        binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        command = " ".join([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"])
        # bash (dash takes single-digit fds only) moves the pipe ends to the fds Chromium expects.
        self.log = Path(self.profile) / "chromium.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", f"exec {command} 3<&{to_child_r} 4>&{from_child_w}"],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_child, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium exited ({self.process.poll()}): {self._log_tail()}") from None
        reply = self._wait(lambda m: m.get("id") == self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    @staticmethod
    def _above_ten(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return moved

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def wait_event(self, method: str) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        return self._wait(lambda m: m.get("method") == method, keep=False)

    def _wait(self, match: Any, keep: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if match(message):
                    return message
                if "method" in message:
                    self.events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe: {self._log_tail()}")
                self._buffer += chunk

    def check_page(self, page: Path, width: int = 1280, height: int = 900, mobile: bool = False,
                   screenshot: Path | None = None) -> PageCheck:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, session=session)
        self.events.clear()
        self.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired")
        probe = self.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session)
        result = json.loads(probe["result"]["value"])
        check = PageCheck(images=result["images"], scroll_width=result["scrollWidth"],
                          inner_width=result["innerWidth"], title=result["title"],
                          sections=result["sections"], repeated=result["repeated"],
                          overflowing=result["overflowing"], cut=result["cut"])
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = (str(a.get("value", a.get("description"))) for a in params["args"])
                check.errors.append("console: " + " ".join(args))
            elif method == "Runtime.exceptionThrown":
                check.errors.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                check.errors.append("log: " + params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                check.requests.append(params["request"]["url"][:80])
        if screenshot is not None:
            size = self.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": width, "height": min(size["height"], 16000), "scale": 1}}, session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        self.send("Target.closeTarget", {"targetId": target})
        return check


if __name__ == "__main__":
    page_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    view_width = int(sys.argv[3]) if len(sys.argv) > 3 else 1280
    with Chromium() as browser:
        print(browser.check_page(page_path, width=view_width, height=900, mobile=view_width < 700, screenshot=out))
