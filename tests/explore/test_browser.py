"""The explorer in a real browser, on the organism's own decompositions (layers 4, 5).

Opens the page from ``file://``, clicks a head, searches, follows a permalink, moves with
the keyboard and loads an edit log; every test also fails on any console error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sith import api
from sith.cli import main
from sith.decompose.results import LayerDecomposition
from sith.explore import build_explorer, head_theme
from sith.explore.gather import decomposition_dir

ORGANISM = ("sith-organism", "v1")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """Decompose the organism (layers 4, 5), make a real edit log, build two pages."""
    data = tmp_path_factory.mktemp("data")
    assert main(["decompose", "--layers", "4", "5", "--data-dir", str(data), "-q"]) == 0
    out = tmp_path_factory.mktemp("pages")
    _, _, log = api.edit(
        components=[(5, 2, 3, 0.0), (4, 1, 0, 0.5)],
        output=out / "edited.safetensors",
        data_dir=data,
        progress=False,
    )
    decs = {
        int(p.name.split("_")[0].split("-")[1]): LayerDecomposition.load(p)
        for p in decomposition_dir(data, *ORGANISM).glob("*.pt")
    }
    words = {w for d in decs.values() for c in d.concepts.values() for w in c.split()}
    blur_word = "skull" if "skull" in words else head_theme(decs[4], 1)[0][0].split()[0]
    blur = out / "blur.txt"
    blur.write_text(blur_word + "\n")
    page = build_explorer(
        data_dir=data, queries="water", blur_words=blur, output=out / "sith.html", progress=False
    )
    with_log = build_explorer(data_dir=data, edit_log=log, output=out / "edited.html", progress=False)
    return {"page": page, "with_log": with_log, "log": Path(log), "decs": decs, "blur": blur_word}


def _open(page, path: Path, fragment: str = "") -> None:
    page.goto(path.as_uri() + fragment)
    page.wait_for_selector("html[data-ready='1']")


def test_overview_grid_themes_and_blur(page, built, shots):
    _open(page, built["page"])
    cells = page.locator("a.cell")
    assert cells.count() == 2 * 8
    cell = page.locator('a.cell[data-l="5"][data-h="2"]')
    assert cell.locator(".t1").inner_text() == head_theme(built["decs"][5], 2)[0][0]
    blurred = page.locator(".blur")
    assert blurred.count() >= 1
    assert all(built["blur"] in t.split() for t in blurred.all_inner_texts())
    first = blurred.first
    assert "blur" in first.evaluate("e => getComputedStyle(e).filter")
    first.hover()
    page.wait_for_function("e => getComputedStyle(e).filter === 'none'", arg=first.element_handle())
    page.mouse.move(0, 0)
    page.wait_for_function("e => getComputedStyle(e).filter.includes('blur')", arg=first.element_handle())
    page.wait_for_timeout(300)  # let the un-hover transition finish before the screenshot
    page.screenshot(path=str(shots / "explore-overview.png"))


def test_click_head_shows_spectrum_and_components(page, built, shots):
    _open(page, built["page"])
    page.locator('a.cell[data-l="5"][data-h="2"]').click()
    page.wait_for_selector("text=Layer 5 · Head 2")
    assert page.url.endswith("#L5H2")
    d = built["decs"][5]
    assert page.locator("svg.spectrum rect.bar").count() == d.rank
    assert page.locator(".comp").count() == d.rank
    shown = page.locator("#c0 .expl .crow .concept").all_inner_texts()
    assert shown == [c for c, _ in d.explanation(2, 0)]
    sigma = page.locator("#c0 .stats").first.inner_text()
    assert sigma == f"σ {float(d.singular_values[2, 0]):.4f}"
    assert page.locator(".flag.tie").count() == int(d.tied[2].sum())
    page.screenshot(path=str(shots / "explore-head.png"))


def _mentions(decs: dict, word: str) -> set[str]:
    return {
        f"L{layer} H{h} #{i}"
        for layer, d in decs.items()
        for h in range(d.num_heads)
        for i in range(d.rank)
        if any(c == word for c, _ in d.explanation(h, i))
    }


def test_search_box_and_ranked_query(page, built, shots):
    decs = built["decs"]
    word = "water" if _mentions(decs, "water") else decs[5].explanation(0, 0)[0][0]
    _open(page, built["page"])
    page.keyboard.press("/")
    page.keyboard.type(word)
    page.wait_for_function(f"location.hash === '#search={word}'")
    page.wait_for_selector(f"h2:text-is('Search: {word}')")
    listed = set(page.locator("#results tr td:first-child a").all_inner_texts())
    assert _mentions(decs, word) <= listed
    assert word in page.locator("#results mark").all_inner_texts()
    page.goto(built["page"].as_uri() + "#search=water")
    page.wait_for_selector("#ranked")
    ranked = page.locator("#ranked tr td:nth-child(4)").all_inner_texts()
    assert len(ranked) == 20 and [float(x) for x in ranked] == sorted(map(float, ranked), reverse=True)
    page.screenshot(path=str(shots / "explore-search.png"))


def test_permalink_and_keyboard(page, built):
    _open(page, built["page"], "#L4H3C7")
    sel = page.locator(".comp.sel")
    assert sel.get_attribute("id") == "c7"
    assert page.locator("h2").inner_text() == "Layer 4 · Head 3"
    box = sel.bounding_box()
    assert 0 <= box["y"] < 800
    page.keyboard.press("j")
    assert page.url.endswith("#L4H3C8") and page.locator(".comp.sel").get_attribute("id") == "c8"
    page.keyboard.press("l")
    page.wait_for_selector("text=Layer 4 · Head 4")
    page.keyboard.press("Escape")
    page.wait_for_selector("#grid")
    page.locator('a.cell[data-l="4"][data-h="0"]').focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("[document.activeElement.dataset.l, document.activeElement.dataset.h]")
    assert focused == ["5", "1"]
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Layer 5 · Head 1")


def test_load_edit_log(page, built, shots, tmp_path):
    _open(page, built["page"])
    page.set_input_files("#log-file", str(built["log"]))
    page.wait_for_selector("#notice:not([hidden])")
    assert "Loaded 2 edits" in page.locator("#notice").inner_text()
    assert page.locator("#edits-link").inner_text() == "Edits (2)"
    assert page.locator('a.cell[data-l="5"][data-h="2"] .badge').inner_text() == "✎1"
    page.goto(built["page"].as_uri() + "#L5H2C3")
    page.wait_for_selector("#c3.edited")
    assert page.locator("#c3 .flag.edit").inner_text() == "α = 0.00"
    assert "edited" in page.locator('rect.bar[data-i="3"]').get_attribute("class")
    page.goto(built["page"].as_uri() + "#edits")
    page.wait_for_selector("#edit-table")
    assert page.locator("#edit-table tr").count() == 3  # header + 2 edits
    page.screenshot(path=str(shots / "explore-edits.png"))

    record = json.loads(built["log"].read_text())
    record["model"] = dict(record["model"], model_name="ViT-B-32", fingerprint="0000")
    foreign = tmp_path / "foreign.edit-log.json"
    foreign.write_text(json.dumps(record))
    page.set_input_files("#log-file", str(foreign))
    page.wait_for_selector("#notice.error")
    assert "another model (ViT-B-32" in page.locator("#notice").inner_text()
    assert page.locator("#edits-link").inner_text() == "Edits (2)"


def test_edit_log_given_at_build_time(page, built):
    _open(page, built["with_log"], "#L4H1C0")
    assert page.locator("#edits-link").inner_text() == "Edits (2)"
    assert page.locator("#c0 .flag.edit").inner_text() == "α = 0.50"
