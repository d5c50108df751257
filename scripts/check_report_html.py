"""Check that a report's HTML renders with every image loaded.

    .venv/bin/python scripts/check_report_html.py out/report/report.html

With Playwright and its Chromium installed (``pip install playwright && playwright install
chromium``) the page is opened in headless Chromium and every <img> must have a natural width > 0.
Without them, a static check: no external references, every image an embedded PNG that decodes.
Exit code 0 when the check passes.
"""
from __future__ import annotations

import base64
import re
import sys
from pathlib import Path


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


def chromium_check(path: Path) -> list[str] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch()
        page = browser.new_page()
        page.goto(path.resolve().as_uri())
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        browser.close()
    return [f"image {k} did not load" for k, w in enumerate(widths) if not w] or ([] if widths else ["no images"])


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "out/report/report.html")
    problems = static_check(path.read_text())
    browser = chromium_check(path)
    if browser is None:
        print("headless Chromium not available (pip install playwright && playwright install chromium); static check only")
    else:
        problems += browser
    for p in problems:
        print(f"FAIL: {p}")
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
