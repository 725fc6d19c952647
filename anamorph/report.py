"""A self-contained HTML report: sections of prose, labelled figures and stated figures.

Images are embedded as base64 data URIs, so the page is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from anamorph.io import write_text

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.5; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
.sub { color: #555; margin-top: 0; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92rem; }
table.facts { border-collapse: collapse; margin: 0.8rem 0; }
table.facts td { padding: 0.2rem 0.8rem; border-bottom: 1px solid #eee; vertical-align: top; }
table.facts td.value { font-variant-numeric: tabular-nums; white-space: nowrap; font-weight: 600; }
"""


@dataclass
class Fact:
    """One number with what it is and its unit, e.g. Fact("test accuracy on chip A", "96.1", "%")."""

    what: str
    value: str
    unit: str = ""


@dataclass
class Section:
    title: str
    text: str = ""
    facts: list[Fact] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (png path, caption)


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(Path(path).stem)}">'


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(subtitle)}</p>",
    ]
    for k, sec in enumerate(sections, 1):
        parts.append(f"<section id='s{k}'><h2>{k}. {html.escape(sec.title)}</h2>")
        if sec.text:
            parts.extend(f"<p>{html.escape(p)}</p>" for p in sec.text.split("\n\n"))
        if sec.facts:
            rows = "".join(
                f"<tr><td>{html.escape(f.what)}</td><td class='value' data-fact='{html.escape(f.what)}'>"
                f"{html.escape(f.value)} {html.escape(f.unit)}</td></tr>"
                for f in sec.facts
            )
            parts.append(f"<table class='facts'>{rows}</table>")
        for path, caption in sec.figures:
            parts.append(f"<figure>{_img(path)}<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(path: Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    return write_text(path, render(title, subtitle, sections))
