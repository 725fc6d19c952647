"""Open a page in a real headless Chromium and report broken images and script errors.

A small probe script is put at the top of a copy of the page: it records every error event
(script errors and failed resource loads) and, once the page has loaded, counts the images
that did not decode. Chromium's ``--dump-dom`` returns the page with the probe's result.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

PROBE = """<script>
window.__probeErrors = [];
window.addEventListener('error', function (e) {
  window.__probeErrors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error'));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  var d = document.createElement('pre'); d.id = '__probe';
  var heads = Array.prototype.map.call(document.querySelectorAll('h2'),
                                       function (h) { return h.textContent; });
  d.textContent = JSON.stringify({images: imgs.length, broken: broken, errors: window.__probeErrors,
                                  headings: heads});
  document.body.appendChild(d);
});
</script>"""

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def probe_page(page: Path, workdir: Path) -> dict:
    """Load ``page`` (a copy beside it, with the probe); return images/broken/errors/headings (h2s)."""
    html = page.read_text()
    probed = page.with_name(f".probe-{page.name}")
    probed.write_text(re.sub(r"<head>", "<head>" + PROBE, html, count=1, flags=re.IGNORECASE))
    try:
        proc = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={workdir / 'chromium-profile'}",
                "--dump-dom",
                probed.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probed.unlink(missing_ok=True)
    found = re.search(r'<pre id="__probe">(.*?)</pre>', proc.stdout, re.DOTALL)
    if not found:
        raise AssertionError(f"the page did not finish loading in Chromium: {proc.stderr[-500:]}")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
