"""Memory-bounded parsing (issue 21, rows 2 and 3): hostile uploads fed to the upload path's parse and cut, each in a
fresh process, printing what it cost: time and the process's peak RSS above its baseline (one run), and Python's
peak allocation (tracemalloc, another run: tracing slows allocation-heavy code several times). Every one must be
refused, with memory and time bounded by config.yaml's `knowledge` limits.

The review measured, before the fix: the 50 MB DOCX bomb took RSS from 371 MB to 1.28 GB and 126 s of CPU (3,620
chunks stored); the 19 MB Markdown file built 3.3 M chunks (+1.8 GB, 48 s) before the cap was looked at.

    .venv/bin/python bench/parse_bombs.py            # the cases below
    .venv/bin/python bench/parse_bombs.py --slow     # also a PDF whose pages are slow to read (the CPU deadline)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.knowledge import bombs  # noqa: E402

CASES = {
    "docx bomb (document.xml inflates to 50 MB)": ("bomb.docx", lambda: bombs.docx_bomb(50)),
    "docx element flood (1 M empty paragraphs, stored)": ("flood.docx", lambda: bombs.docx_element_flood(1_000_000)),
    "markdown section explosion (# h\\nx\\n x 3.2 M, 19 MB)": ("boom.md", lambda: bombs.markdown_explosion()),
    "html section explosion (<h1>h</h1><p>x</p> x 1 M, 18 MB)": ("boom.html", lambda: bombs.html_explosion()),
    "plain text chunk explosion (word x 3.84 M, 19 MB, one section)": ("boom.txt", lambda: b"word " * 3_840_000),
    "pdf flate bomb (one content stream inflating to 60 MB)": ("bomb.pdf", lambda: bombs.pdf_flate_bomb(60)),
    "pdf: one 30 MB content stream shown on 10 pages": ("pages.pdf", lambda: bombs.pdf_flate_bomb(30, 10)),
    "for scale, accepted: a DOCX just under the limits (480 k elements, stored)": (
        "big.docx", lambda: bombs.docx_with_body(b"<w:p><w:r><w:t>word</w:t></w:r></w:p>", 160_000, stored=True)),
}
SLOW = {"pdf: one 2 MB content stream of text shown on 100 pages": ("slow.pdf", lambda: bombs.pdf_flate_bomb(2, 100))}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_case(label: str, traced: bool) -> dict[str, object]:
    """In this (fresh) process: build the file, then parse and cut it as Knowledge.upload does."""
    from core.config import get_settings
    from core.errors import AppError
    from core.knowledge import ParseLimits, parse
    from core.knowledge.chunking import chunk

    name, make = {**CASES, **SLOW}[label]
    raw = make()
    knowledge = get_settings().knowledge
    import docx  # noqa: F401  (imported before the baseline: a library, not the upload)
    import pypdf  # noqa: F401

    baseline = _rss_mb()
    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        parsed = parse(raw, name, ParseLimits.of(knowledge))
        _, drafts = chunk(parsed.sections, size=knowledge.chunk_chars, overlap=knowledge.chunk_overlap,
                          max_chunks=knowledge.max_chunks)
        outcome = f"ACCEPTED ({len(drafts)} passages)"
    except AppError as exc:
        outcome = f"refused: {exc.user_message}"
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024 if traced else 0.0
    tracemalloc.stop()
    return {"file_mb": len(raw) / 1024 / 1024, "seconds": seconds, "cpu": cpu, "traced_mb": peak,
            "rss_mb": max(0.0, _rss_mb() - baseline), "outcome": outcome}


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2], traced="--traced" in sys.argv)))
        return
    labels = list(CASES) + (list(SLOW) if "--slow" in sys.argv else [])
    print(f"{'case':<66} {'file':>8} {'time':>8} {'cpu':>8} {'traced':>9} {'RSS+':>9}  outcome")
    refused = 0
    for label in labels:
        r, t = (json.loads(subprocess.run([sys.executable, __file__, "--case", label, *flag], capture_output=True,
                                          text=True, check=True).stdout.strip().splitlines()[-1])
                for flag in ([], ["--traced"]))
        r["traced_mb"] = t["traced_mb"]
        refused += str(r["outcome"]).startswith("refused")
        print(f"{label:<66} {r['file_mb']:>6.2f}MB {r['seconds']:>7.2f}s {r['cpu']:>7.2f}s {r['traced_mb']:>7.1f}MB "
              f"{r['rss_mb']:>7.1f}MB  {str(r['outcome'])[:110]}")
    print(f"\n{refused} of {len(labels)} refused (tracemalloc: Python's allocations; RSS+: the process's peak above "
          "its baseline, C libraries included)")


if __name__ == "__main__":
    main()
