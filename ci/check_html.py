"""Open each notebook page of the built book in headless Chromium and check what a reader sees.

A page passes when it shows every figure its executed notebook produced (``<img>`` elements that
loaded: ``complete`` with a non-zero natural width) and, when the notebook's text has math, typeset
formulas (``mjx-container`` elements in the live DOM: math rendered by the locally served MathJax,
without network).  We drive Chromium through
the DevTools protocol rather than ``--dump-dom`` because only the live page knows whether an image decoded.

    python ci/check_html.py build/smoke [--screenshot out.png]
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import websocket

PROBE = """(() => {
  const imgs = Array.from(document.querySelectorAll('article img, main img'));
  return JSON.stringify({
    math: document.querySelectorAll('mjx-container').length,
    images: imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
    mathjax_errors: document.querySelectorAll('mjx-merror').length,
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


def expected(notebook: Path) -> tuple[int, int]:
    """(figures, formulas) a reader must see: image outputs of the executed notebook; 1 if its text has math."""
    nb = nbformat.read(notebook, as_version=4)
    images = sum(
        1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    math = any("$" in c.source for c in nb.cells if c.cell_type == "markdown")
    return images, int(math)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="a book build folder, e.g. build/smoke")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the first page checked")
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
            min_images, min_math = expected(args.build_dir / "src" / "notebooks" / f"{page.stem}.ipynb")
            broken = [img["src"] for img in found["images"] if not img["ok"]]
            ok = (
                found["math"] >= min_math
                and len(found["images"]) >= min_images
                and not broken
                and found["mathjax_errors"] == 0
            )
            print(
                f"{'ok  ' if ok else 'FAIL'} {page.name}: {found['math']} typeset formulas (need {min_math}), "
                f"{len(found['images'])} images (need {min_images}), {len(broken)} broken, "
                f"{found['mathjax_errors']} MathJax errors"
            )
            if not ok:
                failures.append(page.name)
            if i == 0 and args.screenshot:
                shot = dev.call("Page.captureScreenshot", format="png")
                args.screenshot.write_bytes(base64.b64decode(shot["data"]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{len(pages) - len(failures)} passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
