"""End-to-end CLI runs on a random-weight ViT-B-32 (no download) and bad-input behaviour."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from sith.cli import main

MODEL = ["--model-name", "ViT-B-32", "--pretrained", "none"]
POOL = "red\nblue\nwater\ngrass\ndog\ncat\ncar\ntree\nsky\nocean\nsand\nstone\nbird\nfish\nboat\nhouse\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "pool.txt").write_text(POOL)
    images = d / "images"
    images.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(6):  # a tiny image collection for the random model's image mean
        pixels = (torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(images / f"{i}.png")
    assert main(["-q", "image-mean", *MODEL, "--data-dir", str(d / "data"), "--images", str(images)]) == 0
    return d


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decompose_show_search_verify(workdir, capsys):
    data = str(workdir / "data")
    code, out, err = run(
        capsys,
        "-q",
        "decompose",
        *MODEL,
        "--data-dir",
        data,
        "--dictionary",
        str(workdir / "pool.txt"),
        "--layers",
        "10",
        "11",
        "--rank",
        "4",
        "--sparsity",
        "3",
        "--method",
        "comp-0.3",
        "--polarity",
        "both",
    )
    assert code == 0, err
    paths = [Path(p) for p in out.split()]
    name = paths[0].name.split("_")[3]  # a pool given by path: stem + content hash, everywhere
    assert name.startswith("pool-") and len(name) == len("pool-") + 8
    assert [p.name for p in paths] == [  # a rank other than the seed's min(64, dh) is an option
        f"layer-10_right_foldln_{name}_comp-0.3_sparsity-3_sith-polarity-both+rank-4.pt",
        f"layer-11_right_foldln_{name}_comp-0.3_sparsity-3_sith-polarity-both+rank-4.pt",
    ]
    assert paths[0].parent == Path(data) / "models" / "ViT-B-32" / "none" / "decompositions"
    d = torch.load(paths[1], weights_only=True)
    assert d["scores"].shape == (12, 4, 3) and d["indices"].shape == (12, 4, 3)
    c = d["config"]  # a pool named by its file: stem + content hash (never one cache for two files)
    assert len(c["dictionary_hash"]) == 16
    assert c["dictionary_name"] == f"pool-{c['dictionary_hash'][:8]}" == name
    assert c["options"] == {"polarity": "both", "rank": 4} and c["head_width"] == 64

    code, out, _ = run(capsys, "show", str(paths[1]), "--head", "0", "3")
    assert code == 0 and out.count("\n") >= 2 + 8 and "layer" in out
    code, out, _ = run(capsys, "show", str(paths[1]), "--json")
    doc = json.loads(out)
    assert doc["format"] == "sith-show/1" and doc["layer"] == 11 and doc["config"]["rank"] == 4
    rows = doc["rows"]
    assert len(rows) == 48 and {r["polarity"] for r in rows} <= {"+", "-"}
    assert all(c[0] in POOL.split() for r in rows for c in r["concepts"])
    code, out, _ = run(capsys, "show", str(paths[1]), "--csv")
    table = list(csv.reader(io.StringIO(out)))
    assert len(table) == 49 and table[0][-2:] == ["concept_3", "weight_3"]

    code, out, err = run(
        capsys,
        "-q",
        "search",
        "water",
        *MODEL,
        "--data-dir",
        data,
        "--dictionary",
        str(workdir / "pool.txt"),
        "--top",
        "5",
        "--layers",
        "11",
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len([line for line in lines if not line.startswith("#")]) == 6  # header + 5 hits
    assert any(line.startswith("# query 'water'") for line in lines)  # familiarity, against random strings
    assert any(line.startswith("# in the dictionary: yes") for line in lines)
    assert any(line.startswith("# idx:") for line in lines) and any("|cos|:" in line for line in lines)

    code, out, err = run(capsys, "verify", *MODEL)
    assert code == 0, err
    errs = [float(line.split()[-1]) for line in out.strip().splitlines()]
    assert len(errs) == 12 and max(errs) < 1e-3


def test_edit_dry_run_apply_log_and_undo(workdir, capsys):
    import open_clip
    from safetensors.torch import load_file, save_file

    data = workdir / "data"
    out_ckpt = workdir / "edited.safetensors"
    orig = workdir / "orig.safetensors"
    ref = {
        k: v.contiguous() for k, v in open_clip.create_model("ViT-B-32", pretrained=None).state_dict().items()
    }
    save_file(ref, orig)
    MODEL = ["--model-name", "ViT-B-32", "--pretrained", str(orig)]
    code, out, err = run(
        capsys,
        "-q",
        "edit",
        *MODEL,
        "--data-dir",
        str(data),
        "--component",
        "11:0:0",
        "--component",
        "10:3:1:2.0",
        "--dry-run",
    )
    assert code == 0, err
    assert "2 components" in out and not out_ckpt.exists()
    code, out, err = run(
        capsys,
        "-q",
        "edit",
        *MODEL,
        "--data-dir",
        str(data),
        "--component",
        "11:0:0",
        "--component",
        "10:3:1:2.0",
        "--output",
        str(out_ckpt),
    )
    assert code == 0, err
    log = workdir / "edited.edit-log.json"
    assert out_ckpt.exists() and log.exists()
    record = json.loads(log.read_text())
    assert {(e["layer"], e["head"], e["index"], e["alpha"]) for e in record["edits"]} == {
        (11, 0, 0, 0.0),
        (10, 3, 1, 2.0),
    }
    again = workdir / "again.safetensors"
    code, _, err = run(capsys, "-q", "edit", *MODEL, "--apply-log", str(log), "--output", str(again))
    assert code == 0, err
    a, b = load_file(out_ckpt), load_file(again)
    assert all(torch.equal(a[k], b[k]) for k in a)
    changed = {k for k in a if not torch.equal(a[k], ref[k])}
    assert changed == {f"visual.transformer.resblocks.{i}.attn.out_proj.weight" for i in (10, 11)}
    restored = workdir / "restored.safetensors"
    code, _, err = run(
        capsys,
        "-q",
        "edit",
        "--model-name",
        "ViT-B-32",
        "--pretrained",
        str(out_ckpt),
        "--undo-log",
        str(log),
        "--output",
        str(restored),
    )
    assert code == 0, err
    r = load_file(restored)
    assert all(torch.allclose(r[k], ref[k], atol=1e-5) for k in ref)
    key = "visual.transformer.resblocks.11.attn.out_proj.weight"
    assert not torch.allclose(a[key], ref[key], atol=1e-5)


BAD = [
    (["decompose", *MODEL, "--layers", "40"], "out of range"),
    (["decompose", *MODEL, "--rank", "999"], "--rank"),
    (["decompose", *MODEL, "--method", "ncomp-2"], "ncomp"),
    (["decompose", *MODEL, "--dictionary", "POOL", "--data-dir", "EMPTY"], "sith image-mean"),
    (["decompose", *MODEL, "--method", "magic"], "magic"),
    (["decompose", *MODEL, "--sparsity", "0", "--dictionary", "POOL"], "--sparsity"),
    (["decompose", *MODEL, "--dictionary", "/nonexistent/pool.txt"], "neither a pool name"),
    (["decompose", "--model-name", "ViT-Q-99"], "unknown model"),
    (["decompose", "--model-name", "ViT-B-32", "--pretrained", "no_such_tag"], "openai"),
    (["decompose", "--model-name", "RN50", "--pretrained", "none"], "RN50"),
    (["show", "/nonexistent.pt"], "not found"),
    (["edit", *MODEL, "--component", "11:0:0:-1"], "alpha"),
    (["edit", *MODEL, "--component", "11:0:99"], "component index"),
    (["download-dictionary", "--dictionary", "klingon"], "klingon"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a[:1] + [n]) for a, n in BAD])
def test_bad_input_one_line_error(workdir, capsys, argv, needle):
    data = workdir / "bad-data"
    mean = Path("models") / "ViT-B-32" / "none" / "image_mean.pt"
    if not (data / mean).exists():  # the model's image mean is there: errors come from the bad flag
        (data / mean).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(workdir / "data" / mean, data / mean)
    subst = {"POOL": str(workdir / "pool.txt"), "EMPTY": str(workdir / "empty-data")}
    argv = [subst.get(a, a) for a in argv]
    code, out, err = run(
        capsys,
        "-q",
        *argv[:1],
        *argv[1:],
        *(["--data-dir", str(data)] if argv[0] != "show" and "--data-dir" not in argv else []),
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err
    assert [p.name for p in data.rglob("*.pt")] == ["image_mean.pt"]


def test_entry_point_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sith.cli", "show", str(tmp_path / "x.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_edit_by_concept_on_the_organism(tmp_path, capsys):
    from sith.organism.model import asset_path

    if not asset_path("organism-v1.json").exists():
        pytest.skip("organism not shipped")
    data = str(tmp_path / "data")
    # the named option (the default judges explanations); it picks 182 of 512 (above the 10% cap)
    alignment = ["--rule", "alignment", "--allow-large"]
    dry = ["--dry-run", "--data-dir", data]
    code, out, err = run(capsys, "-q", "edit", "--suppress", "skull", *alignment, *dry)
    assert code == 0, err
    lines = out.strip().splitlines()
    n = int(lines[-3].split()[0])
    assert n >= 1 and len(lines) == n + 4 and lines[-2].startswith("# judged:"), lines
    scores = [float(line.split()[6]) for line in lines[1 : n + 1]]  # the |cos| that selected each
    assert all(0.3 <= s <= 1.0 for s in scores), lines
    assert not list(Path(data).rglob("*.safetensors"))  # dry run writes no checkpoint
    code, _, err = run(capsys, "-q", "edit", "--suppress", "skul", *alignment, *dry)
    assert code == 2 and "nearest: skull" in err
    code, out, err = run(
        capsys,
        "-q",
        "edit",
        "--suppress",
        "skull",
        "--max-per-layer",
        "1",
        *alignment,
        "--output",
        str(tmp_path / "clean.safetensors"),
        "--data-dir",
        data,
    )
    assert code == 0, err
    record = json.loads((tmp_path / "clean.edit-log.json").read_text())
    assert 1 <= len(record["edits"]) <= 4 and record["selection"]["rule"] == "alignment"
    assert all(e["explanation"] for e in record["edits"])
    assert all(e["score"] >= 0.3 for e in record["edits"])


def test_search_exports_json_and_csv(workdir, capsys):
    args = ["-q", "search", "water", *MODEL, "--data-dir", str(workdir / "data"),
            "--dictionary", str(workdir / "pool.txt"), "--layers", "11", "--top", "5"]
    code, table, err = run(capsys, *args)
    assert code == 0, err
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["format"] == "sith-search/1"
    hits = found["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5] and all(h["layer"] == 11 for h in hits)
    assert found["match"]["in_dictionary"] and "noise_like" in found["familiarity"]
    assert all(0 <= h["cosine"] <= 1 and h["polarity"] in "+-" for h in hits)
    first = table.strip().splitlines()[1].split()  # the table's first hit is the JSON's first
    assert [int(first[2]), int(first[3])] == [hits[0]["head"], hits[0]["index"]]
    code, out, err = run(capsys, *args, "--csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["index"]) for r in rows] == [h["index"] for h in hits]


def test_edit_plan_exports_json_and_csv(workdir, capsys):
    args = ["-q", "edit", *MODEL, "--data-dir", str(workdir / "data"), "--component", "11:0:0",
            "--component", "10:3:1:2.0", "--dry-run"]
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["format"] == "sith-edit-plan/1" and plan["checkpoint"] is None and plan["log"] is None
    assert [(c["layer"], c["head"], c["index"], c["alpha"]) for c in plan["components"]] == [
        (10, 3, 1, 2.0), (11, 0, 0, 0.0)
    ]
    assert all(c["singular_value"] > 0 and c["score"] is None for c in plan["components"])
    code, out, err = run(capsys, *args, "--csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["layer"], r["alpha"]) for r in rows] == [("10", "2.0"), ("11", "0.0")]


def test_edit_without_output_announces_the_path(tmp_path, capsys):
    from sith.organism.model import asset_path

    if not asset_path("organism-v1.json").exists():
        pytest.skip("organism not shipped")
    data = tmp_path / "data"
    code, out, err = run(capsys, "edit", "--component", "5:0:0", "--data-dir", str(data))
    assert code == 0, err
    ckpt = Path(out.strip().splitlines()[-2])
    assert ckpt.is_file() and data in ckpt.parents
    assert f"sith: no --output given: writing the edited model to {ckpt}" in err.splitlines()
