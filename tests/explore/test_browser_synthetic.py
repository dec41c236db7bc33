"""The explorer in a browser on a synthetic rank-64 model: lazy rendering, grounding
thumbnails with heatmaps, compare heatmaps, left+right explanations, inert markup."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

from sith.compare.run import FORMAT as COMPARE_FORMAT
from sith.decompose.results import LayerDecomposition
from sith.explore import build_explorer
from sith.judge.run import JudgedComponent, format_judged
from tests.explore.synthetic import write_grounding, write_set

RANK = 64
HOSTILE = '<img src=x onerror="console.error(1)">'


@pytest.fixture(scope="module")
def synthetic_page(tmp_path_factory):
    data = tmp_path_factory.mktemp("syn")
    concepts = [HOSTILE] + [f"concept {i}" for i in range(200)]
    paths = write_set(data, [0, 1], n_heads=4, rank=RANK, concepts=concepts)
    write_set(data, [1], n_heads=4, rank=RANK, concepts=concepts, sv_type="left", seed=1)
    img = Image.new("RGB", (96, 96), (40, 110, 190))
    ImageDraw.Draw(img).ellipse((20, 20, 76, 76), fill=(230, 70, 60))
    img.save(data / "img.png")
    (layer1,) = [p for p in paths if p.name.startswith("layer-01_right")]
    grounding = data / "ground"
    write_grounding(grounding, LayerDecomposition.load(layer1), data / "img.png", (2, 5))
    compare = data / "compare.json"
    compare.write_text(
        json.dumps(
            {
                "format": COMPARE_FORMAT,
                "layers": [
                    {
                        "layer": lay,
                        "heads": [
                            {"head": h, "sv_change": 0.01 * (lay + h), "singular_value_change": [0.01] * RANK}
                            for h in range(4)
                        ],
                    }
                    for lay in (0, 1)
                ],
            }
        )
    )
    judge = data / "judge.json"
    judge.write_text(format_judged([JudgedComponent(1, 2, 5, 4, None, "concept 1 0.500")], "json"))
    return build_explorer(
        "synthetic",
        "x",
        data_dir=data,
        grounding=grounding,
        compare=compare,
        judge=judge,
        output=data / "p.html",
        progress=False,
    )


def _open(page, path, fragment=""):
    page.goto(path.as_uri() + fragment)
    page.wait_for_selector("html[data-ready='1']")


def test_components_render_lazily_and_permalinks_reach_deep(page, synthetic_page):
    _open(page, synthetic_page, "#L1H2")
    assert page.locator(".comp").count() == 16  # one chunk, the rest on scroll
    page.goto(synthetic_page.as_uri() + "#L1H2C50")
    page.wait_for_selector("#c50.sel")
    for _ in range(10):
        page.mouse.wheel(0, 20000)
        page.wait_for_timeout(50)
    page.wait_for_function(f"document.querySelectorAll('.comp').length === {RANK}")
    assert page.locator("#c0 .expl").count() == 2  # right and left explanations
    assert page.locator("#c0 .expl .label").all_inner_texts()[1].startswith("READS (LEFT)")


def test_grounding_thumbnails_and_compare(page, synthetic_page, shots):
    _open(page, synthetic_page, "#L1H2C5")
    thumbs = page.locator("#c5 .thumb")
    assert thumbs.count() == 4 and page.locator("#c5 .thumb.neg").count() == 1
    assert page.locator("#c5 .thumb canvas").count() == 4  # a patch map under every image
    assert page.evaluate(
        "[...document.querySelectorAll('#c5 .thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#heatstrip span").count() == RANK
    assert page.locator(".flag.judge").all_inner_texts() == ["judge 4"]
    page.screenshot(path=str(shots / "explore-synthetic.png"))
    page.goto(synthetic_page.as_uri() + "#")
    page.wait_for_selector("#grid")
    before = page.locator('a.cell[data-l="1"][data-h="3"]').get_attribute("style")
    page.select_option("#colour-by", "change")
    after = page.locator('a.cell[data-l="1"][data-h="3"]').get_attribute("style")
    assert before != after and "hsl(14" in after


def test_markup_in_concepts_stays_text(page, synthetic_page):
    _open(page, synthetic_page, "#search=onerror")
    page.wait_for_selector("#results")
    assert HOSTILE in page.locator("#results").inner_text()
    assert page.locator("#view img").count() == 0


OVERFLOW = """() => {
  const out = [];
  for (const e of document.querySelectorAll('#bar, #bar *, .toolbar, .toolbar *, .crumbs, .crumbs *')) {
    const r = e.getBoundingClientRect();
    if (r.width && (r.right > window.innerWidth + 0.5 || r.left < -0.5)) out.push(e.outerHTML.slice(0, 60));
  }
  return {page: document.documentElement.scrollWidth, outside: out};
}"""


@pytest.mark.parametrize("fragment", ["", "#L1H2", "#search=concept", "#edits"])
def test_narrow_window_wraps_the_toolbar(page, synthetic_page, fragment):
    """Issue 26: at 420 px the top bar's buttons went off-screen; now every bar wraps and
    no view is wider than the window (the head grid scrolls inside its own box)."""
    page.set_viewport_size({"width": 420, "height": 800})
    _open(page, synthetic_page, fragment)
    found = page.evaluate(OVERFLOW)
    assert found["outside"] == [] and found["page"] <= 420, found
    assert page.locator("#help-button").is_visible() and page.locator("#load-log").is_visible()


def test_configurations_per_layer_are_stated_on_the_page(page, tmp_path):
    """Layers decomposed with different configurations (COMP on 0, OMP on 1, both on 2) make one
    page; its overview names the configuration each layer shows and the one left out."""
    write_set(tmp_path, [0, 2], n_heads=2, rank=4)
    write_set(tmp_path, [1, 2], n_heads=2, rank=4, method="omp")
    path = build_explorer("synthetic", "x", data_dir=tmp_path, output=tmp_path / "p.html", progress=False)
    _open(page, path, "#")
    page.wait_for_selector("#grid")
    assert page.locator("#grid tbody tr").count() == 3
    text = page.locator("#layer-configs").inner_text()
    assert "L0 comp-0.3 K=5 synthetic foldln (seed recipe)" in text
    assert "L1 omp K=5" in text and "L2 comp-0.3" in text
    assert "not shown: L2 omp K=5 synthetic foldln" in text
