"""W4: `sith explore` page size and load time for ViT-L-14-sized decompositions.

Synthetic decompositions in the real file format (``tests/explore/synthetic.py``):
16 heads × 64 components × K = 5 per layer, concepts drawn from a 40,000-string pool of
pseudo-words (1–3 words, ~15 characters, like LAION/ConceptNet phrases), for

- ``vit-l-4``: the last 4 layers (the default `sith decompose` output) — target: page
  ≤ 5 MB without images, interactive in < 2 s;
- ``vit-l-24``: all 24 layers (lazy: a layer's data is parsed when first shown).

For each, the page is built with :func:`sith.explore.build_explorer` and opened from
``file://`` in Chromium (Playwright, ``/usr/bin/chromium`` or ``$SITH_CHROMIUM``), fresh
context per repeat. Times (median of ``--repeats``):

- ``ready_ms``: navigation start → the overview is rendered and the page is interactive
  (``window.sithReadyAt``, set after the first render; performance.now() origin);
- ``head_ms``: hash change to a head → its view is shown (wall clock from Python);
- ``search_ms``: typing a concept → ranked results shown (wall clock, includes the 120 ms
  input debounce).

    python benchmarks/bench_explore.py            # writes benchmarks/results/explore.json
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.explore.synthetic

from playwright.sync_api import sync_playwright  # noqa: E402

from sith.explore import build_explorer  # noqa: E402
from sith.io import save_json  # noqa: E402
from tests.explore.synthetic import write_set  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "explore.json"
CHROMIUM = os.environ.get("SITH_CHROMIUM", "/usr/bin/chromium")
MODEL = {"model_name": "ViT-L-14", "pretrained": "synthetic", "source": "bench", "fingerprint": "bench"}


def pseudo_pool(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct pseudo-word phrases (1–3 words of 3–9 letters)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: set[str] = set()
    while len(out) < n:
        words = [
            "".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
            for _ in range(rng.choice((1, 1, 2, 3)))
        ]
        out.add(" ".join(words))
    return sorted(out)


def measure(browser: Any, page_path: Path, *, layer: int, repeats: int) -> dict[str, float]:
    ready, head, search = [], [], []
    for _ in range(repeats):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        tab.goto(page_path.as_uri())
        tab.wait_for_selector("html[data-ready='1']")
        ready.append(tab.evaluate("window.sithReadyAt"))
        t = time.perf_counter()
        tab.evaluate(f"location.hash = '#L{layer}H7'")
        tab.wait_for_selector(f"h2:text-is('Layer {layer} · Head 7')")
        head.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        tab.fill("#search", "ab")
        tab.wait_for_selector("h2:text-is('Search: ab')")
        search.append(1000 * (time.perf_counter() - t))
        context.close()
        if errors:
            raise RuntimeError(f"page errors: {errors}")
    return {
        "ready_ms": round(statistics.median(ready), 1),
        "head_ms": round(statistics.median(head), 1),
        "search_ms": round(statistics.median(search), 1),
        "ready_ms_all": [round(x, 1) for x in ready],
    }


def run(n_layers: int, pool: list[str], browser: Any, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        layers = list(range(24 - n_layers, 24))
        write_set(tmp, layers, n_heads=16, rank=64, k=5, concepts=pool, model=MODEL)
        t = time.perf_counter()
        page = build_explorer(
            "ViT-L-14", "synthetic", data_dir=tmp, output=Path(tmp) / "p.html", progress=False
        )
        build_s = time.perf_counter() - t
        raw = page.read_bytes()
        result = {
            "layers": n_layers,
            "heads": 16,
            "rank": 64,
            "k": 5,
            "components": n_layers * 16 * 64,
            "build_s": round(build_s, 2),
            "bytes": len(raw),
            "mb": round(len(raw) / 1e6, 3),
            "gzip_mb": round(len(gzip.compress(raw)) / 1e6, 3),
        }
        result.update(measure(browser, page, layer=layers[-1], repeats=repeats))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    pool = pseudo_pool(40_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        results = {
            "vit-l-4": run(4, pool, browser, args.repeats),
            "vit-l-24": run(24, pool, browser, args.repeats),
        }
        version = browser.version
        browser.close()
    record = {
        "benchmark": "explore",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "chromium": version,
        },
        "pool_size": len(pool),
        "results": results,
    }
    save_json(record, args.out)
    for name, r in results.items():
        print(
            f"{name:>9}: {r['components']:>5} components  {r['mb']:.2f} MB (gzip {r['gzip_mb']:.2f})  "
            f"build {r['build_s']:.1f} s  ready {r['ready_ms']:.0f} ms  head {r['head_ms']:.0f} ms  "
            f"search {r['search_ms']:.0f} ms"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
