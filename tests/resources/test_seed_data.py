"""``sith download-model-data`` / ``download-dictionary`` against a fake Drive, then the
downloaded seed-layout files read by ``show`` and ``explore`` (issue 26). No model needed:
the files are tiny tensors in the seed's formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import responses
import torch

from sith.cli import main
from sith.resources.provenance import file_sha256, write_provenance
from sith.resources.seed import SEED_DICTIONARIES, SEED_MODEL_DATA

MODEL, TAG = "ViT-L-14", "laion2b_s32b_b82k"
FOLDER = SEED_MODEL_DATA[(MODEL, TAG)].folder_id
HEADS, RANK, K, N, E = 16, 3, 5, 30, 8
#: The authors' list as published: case variants and a duplicate kept (the seed indexes raw lines).
LINES = [f"concept {i}" for i in range(N - 3)] + ["Dog", "dog", "concept 0"]
FLAT = "layer-20_right_foldln_conceptnet_comp-0.3_sparsity-5.pt"  # (H·rank, K), as decompose.py saves
CUBE = "layer-21_left-nofoldln_conceptnet_omp_sparsity-3.pt"  # (H, rank, K), the README's shape


def pt_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def seed_codes(shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(*shape, generator=g).sort(dim=-1, descending=True).values
    scores[..., -1] = 0.0  # an unused slot, as the seed's topk leaves it (index arbitrary)
    return scores, torch.randint(0, N, shape, generator=g)


@pytest.fixture
def published(drive):
    """The fake Drive holds the seed's folder for ViT-L-14 and its conceptnet list."""
    flat = seed_codes((HEADS * RANK, K), 1)
    cube = seed_codes((HEADS, RANK, 3), 2)
    files = {
        "image_mean.pt": pt_bytes(torch.randn(E)),
        "dictionaries/conceptnet.pt": pt_bytes(torch.randn(N, E)),
        f"decompositions/{FLAT}": pt_bytes({"scores": flat[0], "indices": flat[1]}),
        f"decompositions/{CUBE}": pt_bytes({"scores": cube[0], "indices": cube[1]}),
    }
    drive.state.add_folder(FOLDER, files)
    drive.state.modes.update({fid: "form" for fid in list(drive.state.files)[:2]})  # "large" files
    drive.state.files[SEED_DICTIONARIES["conceptnet"]] = ("\n".join(LINES) + "\n").encode()
    drive.state.modes[SEED_DICTIONARIES["conceptnet"]] = "link"
    return {"files": files, "flat": flat, "cube": cube}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["-q", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_download_then_show_and_explore(published, drive, tmp_path, capsys):
    data = tmp_path / "data"
    code, out, err = run(capsys, "download-model-data", "--data-dir", str(data))
    assert code == 0, err
    root = data / "models" / MODEL / TAG
    for rel, body in published["files"].items():
        assert (root / rel).read_bytes() == body
        side = json.loads((root / rel).with_name(Path(rel).stem + ".source.json").read_text())
        assert side["source"] == "seed download" and side["drive_folder_id"] == FOLDER
        assert side["sha256"] == file_sha256(root / rel) and side["num_heads"] == HEADS
    assert len(out.splitlines()) == 4
    assert not [p for p in data.rglob("*.part")]

    code, out, err = run(capsys, "download-dictionary", "conceptnet", "--data-dir", str(data))
    assert code == 0, err
    assert f"conceptnet.txt has {N} lines, {N - 2} after sith's cleaning" in err  # Dog/dog, concept 0
    text = data / "dictionaries" / "conceptnet.txt"
    assert text.read_text().splitlines() == LINES  # byte for byte: no cleaning of the authors' list
    assert json.loads((text.parent / "conceptnet.source.json").read_text())["source"] == "seed download"

    code, out, err = run(capsys, "show", str(root / "decompositions" / FLAT), "--head", "2")
    assert code == 0, err
    assert "made by the seed's code (seed download: Drive file" in out and "n/a" in out
    scores, indices = (t.reshape(HEADS, RANK, K) for t in published["flat"])
    row = [r for r in out.splitlines() if r.split()[:3] == ["20", "2", "1"]][0]
    pairs = zip(scores[2, 1], indices[2, 1])
    want = ", ".join(f"{LINES[int(i)]} ({float(w):.2f})" for w, i in pairs if w > 0)
    assert row.endswith(want)

    code, out, err = run(capsys, "show", str(root / "decompositions" / CUBE), "--json")
    assert code == 0, err
    doc = json.loads(out)
    rows = doc["rows"]
    assert doc["made_by"] and len(rows) == HEADS * RANK
    assert rows[0]["singular_value"] is None and rows[0]["fidelity"] is None
    s, ix = published["cube"]
    assert rows[4]["concepts"] == [[LINES[int(i)], round(float(w), 4)]
                                   for w, i in zip(s[1, 1], ix[1, 1]) if w > 0]

    page = tmp_path / "page.html"
    code, out, err = run(capsys, "explore", "--model-name", MODEL, "--pretrained", TAG, "--data-dir",
                         str(data), "--method", "comp-0.3", "--output", str(page))
    assert code == 0, err
    assert "NaN" not in page.read_text() and LINES[int(indices[0, 0, 0])] in page.read_text()

    requests = len(drive.state.log)
    code, out, err = run(capsys, "download-model-data", "--data-dir", str(data))
    assert code == 0 and len(drive.state.log) == requests + 3  # listings only: every file kept


def test_existing_own_file_is_kept_unless_force(published, tmp_path, capsys):
    data = tmp_path / "data"
    mean = data / "models" / MODEL / TAG / "image_mean.pt"
    mean.parent.mkdir(parents=True)
    mean.write_bytes(pt_bytes(torch.zeros(E)))
    (mean.parent / "image_mean.json").write_text("{}")  # sith's own sidecar of that tensor
    assert run(capsys, "download-model-data", "--data-dir", str(data))[0] == 0
    assert torch.load(mean, weights_only=True).abs().sum() == 0
    assert run(capsys, "download-model-data", "--data-dir", str(data), "--force")[0] == 0
    assert mean.read_bytes() == published["files"]["image_mean.pt"]
    assert not (mean.parent / "image_mean.json").exists()


def test_seed_decomposition_refuses_a_list_derived_from_the_original_source(published, tmp_path, capsys):
    data = tmp_path / "data"
    assert run(capsys, "download-model-data", "--data-dir", str(data))[0] == 0
    text = data / "dictionaries" / "conceptnet.txt"
    text.parent.mkdir(parents=True)
    text.write_text("\n".join(sorted(LINES)) + "\n", encoding="utf-8")
    write_provenance(text, {"source": "original", "url": "https://example.org/conceptnet.csv.gz"})
    code, _, err = run(capsys, "show", str(data / "models" / MODEL / TAG / "decompositions" / FLAT))
    assert code == 2 and "--source seed" in err and len(err.strip().splitlines()) == 1
    text.unlink()  # no list at all: indices shown, and the header says so
    code, out, err = run(capsys, "show", str(data / "models" / MODEL / TAG / "decompositions" / FLAT))
    assert code == 0 and "concept list missing" in out and "#" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["download-model-data", "--model-name", "ViT-B-32", "--pretrained", "openai"],
         "choose one of: ViT-L-14 --pretrained laion2b_s32b_b82k, ViT-H-14"),
        (["download-model-data", "--model-name", "ViT-H-14"], "no data for ViT-H-14 laion2b_s32b_b82k"),
        (["download-dictionary", "klingon"], "unknown dictionary 'klingon'"),
        (["download-dictionary", "klingon", "--source", "original"], "klingon"),
        (["download-dictionary", "laion", "--dictionary", "efros"], "name one dictionary"),
        (["download-dictionary"], "name one dictionary"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, needle):
    code, _, err = run(capsys, *argv, "--data-dir", str(tmp_path / "data"))
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_unreachable_server_and_missing_folder(drive, tmp_path, capsys):
    data = str(tmp_path / "data")
    code, _, err = run(capsys, "download-model-data", "--data-dir", data)  # Drive has no such folder
    assert code == 2 and "404" in err and len(err.strip().splitlines()) == 1
    drive.stop()
    with responses.RequestsMock():  # nothing answers: the host is unreachable
        for argv in (["download-model-data"], ["download-dictionary", "efros"]):
            code, _, err = run(capsys, *argv, "--data-dir", data)
            assert code == 2 and "cannot reach Google Drive" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "dictionaries" / "efros.txt").exists()
