"""Check that a report's HTML renders in a real browser, and keep a screenshot of it.

    .venv/bin/python scripts/check_report_html.py out/report/report.html [--screenshot FILE.png] [--require-browser]

1. Static: no external references; every image an embedded PNG that decodes.
2. Headless Chromium (Debian's ``chromium``, installed by scripts/setup.sh), driven over the
   DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no extra package): the page
   loads, every ``<img>`` has a natural width > 0, the console shows no error (console.error, an
   uncaught exception, a failed load), and a full-page screenshot is written (default:
   ``screenshot.png`` next to the report) whose pixels are not all one value (variance > 0).
   ``--no-sandbox`` is passed when running as root (Chromium refuses to start otherwise).

Without Chromium only the static check runs (a line says so); ``--require-browser`` (or CI=true)
makes a missing Chromium a failure. Exit code 0 when every check passes; the last line says how long
the browser took.
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, MAX_HEIGHT = 1200, 20000  # CSS pixels of the screenshot (the page is 1100 px wide at most)


def static_check(page: str) -> list[str]:
    problems = []
    if re.search(r"""(src|href)=['"](?!data:)""", page):
        problems.append("external reference found")
    images = re.findall(r"""src=['"]data:image/png;base64,([^'"]+)['"]""", page)
    if not images:
        problems.append("no images")
    for k, data in enumerate(images):
        if base64.b64decode(data)[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append(f"image {k} is not a PNG")
    return problems


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class DevTools:
    """Chrome DevTools protocol over ``--remote-debugging-pipe``: the browser reads NUL-terminated
    JSON commands on its fd 3 and writes responses and events on its fd 4."""

    def __init__(self, chromium: str, profile: str):
        to_browser, self._cmd = os.pipe()
        self._res, from_browser = os.pipe()

        def child_fds():  # in the child, before exec: the two pipe ends become fds 3 and 4
            a, b = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        argv = [chromium, "--headless=new", "--remote-debugging-pipe", f"--user-data-dir={profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--hide-scrollbars",
                "--disable-dev-shm-usage", *(["--no-sandbox"] if os.geteuid() == 0 else []), "about:blank"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_fds, close_fds=False)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._next_id, self.events = b"", 0, []

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._res], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(self._res, 1 << 20) if ready else b""
            if not ready or not chunk:
                raise RuntimeError("Chromium did not answer" if not ready else "Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == name for e in self.events):
            self.events.append(self._message(deadline))
        return next(e for e in self.events if e.get("method") == name)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, OSError):
            pass
        for fd in (self._cmd, self._res):
            os.close(fd)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def console_errors(events: list[dict]) -> list[str]:
    """Console errors among DevTools events: console.error/assert, uncaught exceptions, log errors."""
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description", "")))
                                                                for a in p.get("args", [])))
        elif e.get("method") == "Runtime.exceptionThrown":
            details = p.get("exceptionDetails", {})
            out.append("uncaught exception: " + str(details.get("exception", {}).get("description", details.get("text"))))
        elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(f"log error ({p['entry'].get('source')}): {p['entry'].get('text')} {p['entry'].get('url', '')}")
    return out


def pixel_variance(png: bytes) -> tuple[tuple[int, int], float]:
    """(width, height) and the variance of every channel value of a PNG (0: one flat colour)."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    return image.size, float(np.asarray(image.convert("RGB"), dtype=np.float64).var())


def _load_page(dev: DevTools, path: Path) -> tuple[str, list]:
    """Open ``path`` in a new tab; returns (session, [(complete, naturalWidth) per image])."""
    target = dev.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = dev.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        dev.call(f"{domain}.enable", session=session)
    dev.call("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": 900, "deviceScaleFactor": 1,
                                                    "mobile": False}, session=session)
    dev.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    dev.wait_event("Page.loadEventFired")
    found = dev.call("Runtime.evaluate", {"expression": "JSON.stringify(Array.from(document.images).map("
                                                        "i => [i.complete, i.naturalWidth]))", "returnByValue": True},
                     session=session)
    return session, json.loads(found["result"]["value"])


def _screenshot(dev: DevTools, session: str) -> bytes:
    size = dev.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": WIDTH, "height": min(max(int(size["height"]), 1), MAX_HEIGHT), "scale": 1}
    shot = dev.call("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True},
                    session=session)
    return base64.b64decode(shot["data"])


def browser_check(path: Path, screenshot: Path) -> tuple[list[str] | None, str]:
    """Problems found in headless Chromium (None: no Chromium) and a summary line."""
    chromium = find_chromium()
    if chromium is None:
        return None, "headless Chromium not available (apt-get install chromium); static check only"
    from characterize.files import atomic_write

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bdpe-chromium-") as profile:
        dev = DevTools(chromium, profile)
        try:
            version = dev.call("Browser.getVersion").get("product", "Chromium")
            session, images = _load_page(dev, path)
            png = _screenshot(dev, session)
            dev.call("Runtime.evaluate", {"expression": "0"}, session=session)  # let late console events arrive
            errors = console_errors(dev.events)
        except (RuntimeError, OSError, KeyError, ValueError) as exc:  # a browser that fails is a failed check
            return [f"headless Chromium ({chromium}) failed: {exc}"], f"{chromium}: failed after {time.perf_counter() - t0:.1f} s"
        finally:
            dev.close()
    atomic_write(screenshot, png)
    (w, h), variance = pixel_variance(png)
    problems = [f"image {k} did not load" for k, (done, width) in enumerate(images) if not (done and width > 0)]
    problems += ([] if images else ["the browser shows no image"]) + [f"console: {e}" for e in errors]
    problems += [] if variance > 0 else [f"screenshot {screenshot} is blank (one colour)"]
    loaded = sum(bool(done and width > 0) for done, width in images)
    return problems, (f"{version}: {loaded}/{len(images)} images loaded, {len(errors)} console errors, screenshot {screenshot} "
                      f"({w}x{h} px, pixel variance {variance:.1f}) in {time.perf_counter() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="check a bdpe report in headless Chromium")
    parser.add_argument("report", nargs="?", default="out/report/report.html")
    parser.add_argument("--screenshot", help="where the screenshot goes (default: screenshot.png beside the report)")
    parser.add_argument("--require-browser", action="store_true", help="fail when Chromium is not installed")
    args = parser.parse_args(argv)
    path = Path(args.report)
    problems = static_check(path.read_text())
    screenshot = Path(args.screenshot) if args.screenshot else path.with_name("screenshot.png")
    found, summary = browser_check(path, screenshot)
    print(summary)
    if found is None and (args.require_browser or os.environ.get("CI", "").lower() in ("1", "true", "yes")):
        problems.append("headless Chromium is required here (--require-browser or CI=true)")
    problems += found or []
    for p in problems:
        print(f"FAIL: {p}")
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, when run from a checkout
    raise SystemExit(main())
