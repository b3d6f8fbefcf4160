"""Open each notebook page of the built book in headless Chromium and check what a reader sees.

A page passes when it shows every table its executed notebook produced (HTML tables, Markdown pipe tables),
with no pipe-table separator left as raw text, every link to another chapter that its outputs hold, every
figure its executed notebook produced (``<img>`` elements that
loaded: ``complete`` with a non-zero natural width) and, when the notebook's text has math, typeset
formulas (``mjx-container`` elements in the live DOM: math rendered by the locally served MathJax,
without network).  We drive Chromium through
the DevTools protocol rather than ``--dump-dom`` because only the live page knows whether an image decoded.

    python ci/check_html.py build/smoke [--screenshot fig1.png] [--screenshot-first intro.png]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import websocket

PROBE = """(() => {
  const imgs = Array.from(document.querySelectorAll('article img, main img'));
  return JSON.stringify({
    math: document.querySelectorAll('mjx-container').length,
    images: imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
    mathjax_errors: document.querySelectorAll('mjx-merror').length,
    tables: document.querySelectorAll('article table, main table').length,
    pipe_rows: (document.querySelector('article, main') || document.body).innerText
      .split('\\n').filter(l => /\\|\\s*[-\u2014\u2013:]{3,}\\s*\\|/.test(l)).length,
    links: Array.from(document.querySelectorAll('article a[href], main a[href]')).map(a => a.getAttribute('href')),
    directives: (document.querySelector('article, main') || document.body).innerText
      .split('\\n').filter(l => /#\\s*fmt:\\s*(off|on|skip)/.test(l)).length,
  });
})()"""


class DevTools:
    """Minimal Chrome DevTools protocol client: navigate, wait, evaluate, screenshot."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=60)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expr: str) -> object:
        return self.call("Runtime.evaluate", expression=expr, returnByValue=True)["result"].get("value")


def start_chromium(port: int) -> subprocess.Popen:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        sys.exit("check_html: no chromium found; run `bash ci/setup.sh --browser` (installs Debian's chromium)")
    profile = tempfile.mkdtemp(prefix="svd-icl-chromium-")
    args = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        f"--remote-debugging-port={port}",
        "--window-size=1280,2000",
        "about:blank",
    ]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def page_ws_url(port: int, deadline: float = 30.0) -> str:
    start = time.time()
    while time.time() - start < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as resp:
                pages = [t for t in json.load(resp) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.3)
    sys.exit("check_html: chromium did not open its DevTools port")


def inspect(dev: DevTools, path: Path, timeout: float = 30.0) -> dict:
    """Load ``path``, wait until MathJax finished and images settled, return the probe's findings."""
    dev.call("Page.navigate", url=path.resolve().as_uri())
    start = time.time()
    result: dict = {}
    while time.time() - start < timeout:
        time.sleep(0.5)
        ready = dev.evaluate(
            "document.readyState === 'complete' && "
            "(!window.MathJax || !MathJax.startup || !MathJax.startup.promise || "
            "window.__mjdone === true)"
        )
        dev.evaluate(
            "if (window.MathJax && MathJax.startup && MathJax.startup.promise && !window.__mjhook) "
            "{ window.__mjhook = true; MathJax.startup.promise.then(() => { window.__mjdone = true; }); }"
        )
        result = json.loads(dev.evaluate(PROBE))
        if ready and all(img["ok"] for img in result["images"]):
            break
    return result


PIPE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)
PAGE_LINK = re.compile(r"""href=["']([A-Za-z0-9_]+\.html)["']|\]\(([A-Za-z0-9_]+\.html)\)""")


@dataclass
class Need:
    """What a page must show, read from its executed notebook."""

    images: int = 0
    math: int = 0
    tables: int = 0
    links: set[str] = field(default_factory=set)


def expected(notebook: Path) -> Need:
    """Figures (image outputs), math (1 if the text has any), tables (HTML tables in outputs and pipe tables in
    Markdown cells or Markdown outputs) and links to other pages (in outputs) of the executed notebook."""
    nb = nbformat.read(notebook, as_version=4)
    need = Need()
    for c in nb.cells:
        if c.cell_type == "markdown":
            need.math = need.math or int("$" in c.source)
            need.tables += len(PIPE_SEPARATOR.findall(c.source))
            continue
        if (
            c.cell_type != "code"
            or "remove-output" in c.metadata.get("tags", [])
            or "remove-cell" in c.metadata.get("tags", [])
        ):
            continue
        for o in c.get("outputs", []):
            data = o.get("data", {})
            need.images += "image/png" in data
            html = "".join(data.get("text/html", ""))
            markdown = "".join(data.get("text/markdown", ""))
            if html:
                need.tables += html.count("<table")
            elif markdown:
                need.tables += len(PIPE_SEPARATOR.findall(markdown))
            for m in PAGE_LINK.finditer(html or markdown):
                need.links.add(m.group(1) or m.group(2))
    return need


def problems(found: dict, need: Need) -> list[str]:
    """What a reader would miss on the page: each a short phrase; empty when the page is fine."""
    out = []
    if found["math"] < need.math:
        out.append("no typeset math")
    if len(found["images"]) < need.images:
        out.append(f"{len(found['images'])} of {need.images} figures")
    broken = [img["src"] for img in found["images"] if not img["ok"]]
    if broken:
        out.append(f"{len(broken)} broken images")
    if found["mathjax_errors"]:
        out.append(f"{found['mathjax_errors']} MathJax errors")
    if found.get("tables", 0) < need.tables:
        out.append(f"{found.get('tables', 0)} of {need.tables} tables")
    if found.get("pipe_rows", 0):
        out.append(f"{found['pipe_rows']} pipe-table separator rows shown as text (a table not rendered)")
    if found.get("directives", 0):
        out.append(f"{found['directives']} formatter directive lines (# fmt: ...) shown in code")
    missing = sorted(need.links - {h.split("#")[0] for h in found.get("links", [])})
    if missing:
        out.append(f"links missing to {', '.join(missing)}")
    return out


FIRST_PAGE_HEADING = "What this reproduction found"


def first_page_problems(dev: DevTools, build_dir: Path) -> list[str]:
    """The book's first page must open with the generated findings and show the forest plot (loaded)."""
    page = build_dir / "_build" / "html" / "book" / "intro.html"
    if not page.exists():
        return [f"no first page at {page}"]
    found = inspect(dev, page)
    text = dev.evaluate("(document.querySelector('article, main') || document.body).innerText")
    out = []
    if FIRST_PAGE_HEADING not in text:
        out.append(f"no '{FIRST_PAGE_HEADING}' section")
    elif "**" in text.split(FIRST_PAGE_HEADING, 1)[1][:4000]:
        out.append("findings shown as raw Markdown")
    if not any(img["ok"] and "forest" in (img["src"] or "") for img in found["images"]):
        out.append("the forest plot is missing or did not load")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="a book build folder, e.g. build/smoke")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the first chapter page checked")
    parser.add_argument("--screenshot-first", type=Path, help="save a PNG of the book's first page (the findings)")
    parser.add_argument("--port", type=int, default=9333)
    args = parser.parse_args()

    html_dir = args.build_dir / "_build" / "html" / "notebooks"
    pages = sorted(html_dir.glob("*.html"))
    if not pages:
        sys.exit(f"check_html: no pages under {html_dir}; build the book first")
    proc = start_chromium(args.port)
    failures = []
    try:
        dev = DevTools(page_ws_url(args.port))
        dev.call("Page.enable")
        for i, page in enumerate(pages):
            found = inspect(dev, page)
            need = expected(args.build_dir / "src" / "notebooks" / f"{page.stem}.ipynb")
            wrong = problems(found, need)
            print(
                f"{'FAIL' if wrong else 'ok  '} {page.name}: {found['math']} typeset formulas (need {need.math}), "
                f"{len(found['images'])} images (need {need.images}), {found['tables']} tables (need {need.tables}), "
                f"{len(need.links)} page links checked" + (f" -- {'; '.join(wrong)}" if wrong else "")
            )
            if wrong:
                failures.append(page.name)
            if i == 0 and args.screenshot:
                shot = dev.call("Page.captureScreenshot", format="png")
                args.screenshot.write_bytes(base64.b64decode(shot["data"]))
        wrong = first_page_problems(dev, args.build_dir)  # leaves the first page loaded
        if args.screenshot_first:
            shot = dev.call("Page.captureScreenshot", format="png")
            args.screenshot_first.write_bytes(base64.b64decode(shot["data"]))
        print(
            f"{'FAIL' if wrong else 'ok  '} book/intro.html: the findings and the forest plot"
            + (f" -- {'; '.join(wrong)}" if wrong else "")
        )
        if wrong:
            failures.append("book/intro.html")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{len(pages) + 1 - len(failures)} passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
