"""Bad input to every command: one ``error:`` line, exit 2, no traceback, nothing written (issue 9).

Each case runs ``sith.cli.main`` in-process in a scratch folder (the default ``data`` dir is
inside it) and checks: exit code 2, stderr is exactly one line starting ``error: `` that
contains the case's needle, no traceback, and the scratch folder's file list is unchanged.
Most cases fail before a model loads; the rest use the built-in organism (loads in < 1 s
once open_clip is imported).
"""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path

import pytest
import torch

from sith.cli import main
from sith.decompose.results import FORMAT
from tests.explore.synthetic import synthetic_decomposition, write_set

OUT = "{root}/out.safetensors"


def _log(**changes) -> dict:
    """A well-formed edit log for the organism's shapes (dh 16, d 128), then ``changes``."""
    entry = {
        "layer": 5, "head": 0, "index": 0, "alpha": 0.0, "reason": "by index",
        "update": {"scale": -1.0, "x": [0.0] * 16, "y": [0.0] * 128},
    }
    record = {
        "format": "sith-edit-log/1",
        "model": {"model_name": "sith-organism", "pretrained": "v1", "source": "open_clip",
                  "fingerprint": "f"},
        "fold_ln": True,
        "edits": [entry],
    }
    for key, value in changes.items():
        target, name = (entry, key[6:]) if key.startswith("entry_") else (record, key)
        if value is _DROP:
            del target[name]
        else:
            target[name] = value
    return record


_DROP = object()

LOGS = {
    "log_ok": _log(),
    "log_no_model": _log(model=_DROP),
    "log_no_edits": _log(edits=_DROP),
    "log_no_head": _log(entry_head=_DROP),
    "log_model_str": _log(model="ViT-B-32"),
    "log_alpha_abc": _log(entry_alpha="abc"),
    "log_no_fold_ln": _log(fold_ln=_DROP),
    "log_bad_size": _log(entry_update={"scale": -1.0, "x": [0.0] * 3, "y": [0.0] * 128}),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> dict[str, str]:
    """Input files of every kind, and the placeholders the cases use."""
    root = tmp_path_factory.mktemp("bad")
    (root / "data").mkdir()
    dec = synthetic_decomposition(5).save(root / "dec.pt")
    write_set(root / "data", [0, 1])  # decompositions of the "synthetic" model, for explore
    (root / "garbage.pt").write_bytes(random.Random(0).randbytes(256))  # fixed: the same bytes every run
    (root / "pickle.pt").write_bytes(pickle.dumps(os.system))  # weights_only must refuse it
    torch.save({"format": FORMAT, "scores": torch.zeros(1)}, root / "damaged.pt")
    (root / "latin1.txt").write_bytes("café\nthé\nmer\n".encode("latin-1"))
    (root / "latin1-list.txt").write_bytes("café.png\n".encode("latin-1"))
    (root / "binary.bin").write_bytes(b"\x00\x01\x02word\x00" * 20)
    (root / "afile").write_text("a file where a folder is expected\n")
    (root / "notjson.json").write_text("{not json")
    (root / "images").mkdir()
    (root / "corrupt").mkdir()
    (root / "long.txt").write_text("water\n" + "x" * 120_000 + "\nland\n")
    (root / "utf16.txt").write_bytes("water\nocean\n".encode("utf-16"))
    (root / "m.safetensors").write_bytes(os.urandom(64))  # a checkpoint name (never loaded by a refusal)
    (root / "mine.safetensors").write_bytes(os.urandom(64))  # a user's file sith did not write
    (root / "corrupt" / "a.png").write_bytes(b"not an image")
    for name, text in LOGS.items():
        (root / f"{name}.json").write_text(json.dumps(text))
    places = {"root": str(root), "dec": str(dec), "afile": str(root / "afile")}
    places["images"] = str(root / "images")
    places["corrupt"] = str(root / "corrupt")
    places.update({p.stem: str(p) for p in root.iterdir() if p.is_file()})
    return places


def _snapshot(root: Path) -> set[str]:
    """Every file and folder under ``root`` (an empty folder left behind counts too)."""
    return {str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*")}


def _case(id_: str, argv: list[str], needle: str):  # noqa: ANN202
    return pytest.param(argv, needle, id=id_)


PARSER = [
    _case("unknown command", ["frobnicate"], "invalid choice"),
    _case("no command", [], "name a command"),
    _case("decompose --layers x", ["decompose", "--layers", "x"], "--layers"),
    _case("decompose --sv-type up", ["decompose", "--sv-type", "up"], "invalid choice"),
    _case("show without file", ["show"], "file"),
    _case("edit --component 1:2", ["edit", "--component", "1:2"], "LAYER:HEAD:INDEX"),
    _case("edit --component alpha x", ["edit", "--component", "1:2:3:x"], "LAYER:HEAD:INDEX"),
    _case("search without concept", ["search"], "concept"),
    _case("ground without source", ["ground"], "--images"),
    _case("judge without --task", ["judge", "{dec}"], "--task"),
    _case("compare without tuned", ["compare"], "--tuned-pretrained"),
    _case("organism train --set no =", ["organism", "train", "--set", "steps"], "KEY=VALUE"),
    _case("organism without subcommand", ["organism"], "required"),
    _case("global -q after the command, bad int", ["decompose", "-q", "--rank", "x"], "--rank"),
    _case("decompose --layers -1", ["decompose", "--layers", "-1"], "--layers counts from 0"),
    _case("show --layer -1", ["show", "{dec}", "--layer", "-1"], "--layers counts from 0"),
]

BEFORE_MODEL = [
    _case("decompose --method magic", ["decompose", "--method", "magic"], "magic"),
    _case("decompose --sparsity 0", ["decompose", "--sparsity", "0"], "--sparsity must be a positive"),
    _case("decompose --rank 0", ["decompose", "--rank", "0"], "rank"),
    _case("decompose --template no braces", ["decompose", "--template", "x"], "exactly once"),
    _case("ground --world 0", ["ground", "--world", "0"], "--world"),
    _case("show a folder", ["show", "{root}"], "is a folder; pass one decomposition .pt file"),
    _case("show missing", ["show", "{root}/missing.pt"], "not found"),
    _case("show garbage", ["show", "{garbage}"], "not a valid"),
    _case("show pickle", ["show", "{pickle}"], "weights-only"),
    _case("show damaged", ["show", "{damaged}"], "damaged"),
    _case("show --head 99", ["show", "{dec}", "--head", "99"], "head 99"),
    _case("show --layer 3", ["show", "{dec}", "--layer", "3"], "holds layer 5"),
    _case("show --output under a file", ["show", "{dec}", "--output", "{afile}/x.txt"], "cannot use"),
    _case("search empty", ["search", " "], "empty"),
    _case("search --top 0", ["search", "water", "--top", "0"], "--top"),
    _case("download-dictionary unknown", ["download-dictionary", "--dictionary", "klingon"], "klingon"),
    _case(
        "download-model-data unknown model",
        ["download-model-data", "--model-name", "ViT-B-32", "--pretrained", "openai"],
        "choose one of: ViT-L-14",
    ),
    _case(
        "download-dictionary binary wordnet source",
        ["download-dictionary", "--dictionary", "wordnet", "--source", "{binary}"],
        "not a tar archive",
    ),
    _case(
        "download-dictionary binary conceptnet source",
        ["download-dictionary", "--dictionary", "conceptnet", "--source", "{binary}"],
        "binary",
    ),
    _case(
        "download-dictionary latin-1 source",
        ["download-dictionary", "--dictionary", "efros", "--source", "{latin1}"],
        "UTF-8",
    ),
    _case(
        "download-dictionary missing source",
        ["download-dictionary", "--dictionary", "wordnet", "--source", "{root}/none.txt"],
        "none.txt",
    ),
    _case("edit nothing", ["edit"], "nothing to edit"),
    _case("edit --apply-log without --output", ["edit", "--apply-log", "{log_ok}"], "--output"),
    _case("edit alpha nan dry", ["edit", "--component", "5:0:0:nan", "--dry-run"], "alpha nan"),
    _case("edit alpha nan real", ["edit", "--component", "5:0:0:nan", "--output", OUT], "alpha nan"),
    _case("edit --alpha -1", ["edit", "--component", "5:0:0", "--alpha", "-1"], "alpha -1"),
    _case(
        "edit --component with --layers", ["edit", "--component", "5:0:0", "--layers", "99"], "drop --layers"
    ),
    _case(
        "edit --component with --layers dry",
        ["edit", "--component", "5:0:0", "--layers", "5", "--dry-run"],
        "--component LAYER:HEAD:INDEX names its own layer",
    ),
    _case(
        "edit --threshold -5",
        ["edit", "--suppress", "water", "--threshold", "-5", "--dry-run"],
        "--threshold -5",
    ),
    _case(
        "edit --max-per-layer 0",
        ["edit", "--suppress", "water", "--max-per-layer", "0", "--dry-run"],
        "--max-per-layer",
    ),
    _case("apply-log not JSON", ["edit", "--apply-log", "{notjson}", "--output", OUT], "not valid JSON"),
    _case("apply-log latin-1", ["edit", "--apply-log", "{latin1}", "--output", OUT], "UTF-8"),
    _case("apply-log no model", ["edit", "--apply-log", "{log_no_model}", "--output", OUT], "'model'"),
    _case("apply-log no edits", ["edit", "--apply-log", "{log_no_edits}", "--output", OUT], "'edits'"),
    _case("apply-log no head", ["edit", "--apply-log", "{log_no_head}", "--output", OUT], "edits[0].head"),
    _case("apply-log model str", ["edit", "--apply-log", "{log_model_str}", "--output", OUT], "'model'"),
    _case(
        "apply-log alpha abc", ["edit", "--apply-log", "{log_alpha_abc}", "--output", OUT], "edits[0].alpha"
    ),
    _case("apply-log no fold_ln", ["edit", "--apply-log", "{log_no_fold_ln}", "--output", OUT], "fold_ln"),
    _case("undo-log alpha abc", ["edit", "--undo-log", "{log_alpha_abc}", "--output", OUT], "edits[0].alpha"),
    _case(
        "organism train unknown field",
        ["organism", "train", "--set", "nosuch=1", "--output-dir", "{root}/run"],
        "nosuch",
    ),
    _case(
        "organism train steps=abc",
        ["organism", "train", "--set", "steps=abc", "--output-dir", "{root}/run"],
        "steps",
    ),
    _case(
        "organism train --init-from missing",
        ["organism", "train", "--init-from", "{root}/none.safetensors", "--output-dir", "{root}/run"],
        "none.safetensors",
    ),
    _case(
        "organism train caption_rates bad",
        ["organism", "train", "--set", "caption_rates=0.5", "--output-dir", "{root}/run"],
        "caption_rates",
    ),
    _case(
        "organism export bad tag",
        ["organism", "export", "{root}/none.pt", "--tag", "../x", "--output-dir", "{root}/exp"],
        "--tag",
    ),
    _case(
        "organism export missing",
        ["organism", "export", "{root}/none.pt", "--output-dir", "{root}/exp"],
        "none.pt",
    ),
    _case("organism eval --legacy-metrics (retired)", ["organism", "eval", "--legacy-metrics"],
          "--legacy-metrics"),
    _case("organism eval --twin-pairs 3", ["organism", "eval", "--twin-pairs", "3"], "--twin-pairs"),
    _case("organism eval --twin-seeds -1", ["organism", "eval", "--twin-seeds", "-1"], "--twin-seeds"),
    _case("organism eval --sparsity 0", ["organism", "eval", "--sparsity", "0"], "--sparsity"),
    _case("explore --output is a folder", ["explore", "--output", "{images}"], "--output"),
    _case("explore --output under a file", ["explore", "--output", "{afile}/page.html"], "--output"),
    _case("organism eval --method bogus", ["organism", "eval", "--method", "bogus"], "--method"),
    _case("ground --world -3", ["ground", "--world", "-3"], "--world"),
    _case("ground missing images", ["ground", "--images", "{root}/none"], "none"),
    _case("ground latin-1 list", ["ground", "--images", "{latin1-list}"], "UTF-8"),
    _case("judge missing file", ["judge", "{root}/none.pt", "--task", "x"], "not found"),
    _case("judge --output under a file", ["judge", "{dec}", "--task", "x", "--output", "{afile}/j.txt"],
          "is a file, not a folder"),
    _case("judge --output a folder", ["judge", "{dec}", "--task", "x", "--output", "{images}"],
          "is a folder"),
    _case(
        "judge llm without key",
        ["judge", "{dec}", "--task", "x", "--judge", "llm", "--judge-key-env", "SITH_NO_SUCH_KEY"],
        "SITH_NO_SUCH_KEY",
    ),
    _case(
        "explore latin-1 blur words",
        ["explore", "--model-name", "synthetic", "--pretrained", "x", "--blur-words", "{latin1}",
         "--output", "{root}/p.html"],
        "UTF-8",
    ),
    _case(
        "explore edit log alpha abc",
        ["explore", "--model-name", "synthetic", "--pretrained", "x", "--edit-log", "{log_alpha_abc}",
         "--output", "{root}/p.html"],
        "edits[0].alpha",
    ),
    _case(
        "explore nothing decomposed",
        ["explore", "--model-name", "nobody", "--pretrained", "x", "--output", "{root}/p.html"],
        "decompos",
    ),
    _case("verify unknown model", ["verify", "--model-name", "ViT-Q-99"], "unknown model"),
    # a newcomer's pass: every argument checked before any work, nothing overwritten that sith did not write
    _case("edit --output is the --pretrained input",
          ["edit", "--pretrained", "{m}", "--component", "5:0:0", "--output", "{m}"],
          "is the --pretrained input"),
    _case("edit --output is the --apply-log input",
          ["edit", "--apply-log", "{root}/x.pt", "--output", "{root}/x.pt"], "is the --apply-log input"),
    _case("edit --output replaces a file sith did not write",
          ["edit", "--component", "5:0:0", "--output", "{mine}"], "pass --force"),
    _case("edit --output x.txt", ["edit", "--component", "5:0:0", "--output", "{root}/x.txt"],
          "cannot tell the checkpoint format"),
    _case("edit --amplify-alpha 1e30", ["edit", "--amplify", "red", "--amplify-alpha", "1e30", "--dry-run"],
          "--amplify-alpha 1e+30 is out of range"),
    _case("edit --alpha 101", ["edit", "--component", "5:0:0", "--alpha", "101"], "from 0 (remove) to 100"),
    _case("edit --alpha -1e30 is a number", ["edit", "--component", "5:0:0", "--alpha", "-1e30"],
          "--alpha -1e+30 is out of range"),
    _case("edit --component alpha inf", ["edit", "--component", "5:0:0:inf", "--dry-run"], "alpha inf"),
    _case("edit --alpha with --amplify only", ["edit", "--amplify", "red", "--alpha", "3", "--dry-run"],
          "pass --amplify-alpha 3 instead"),
    _case("edit --amplify-alpha with --suppress only",
          ["edit", "--suppress", "red", "--amplify-alpha", "3", "--dry-run"], "--amplify edits only"),
    _case("edit --suppress empty", ["edit", "--suppress", "", "--dry-run"], "--suppress is empty"),
    _case("edit --suppress emoji", ["edit", "--suppress", "\U0001f600", "--dry-run"], "no letters or digits"),
    _case("search emoji", ["search", "\U0001f600"], "no letters or digits"),
    _case("download-dictionary UTF-16 source",
          ["download-dictionary", "--dictionary", "efros", "--source", "{utf16}"], "is UTF-16 text"),
]

# the organism loads for these: a dry run must refuse exactly what a real run refuses
WITH_MODEL = [
    _case(f"edit {c} {mode}", ["edit", "--component", c, *extra], needle)
    for c, needle in (("99:0:0", "layer 99"), ("5:0:999", "component index 999"), ("5:99:0", "head 99"))
    for mode, extra in (("dry", ["--dry-run"]), ("real", ["--output", OUT]))
] + [
    _case("undo-log update of the wrong size", ["edit", "--undo-log", "{log_bad_size}", "--output", OUT],
          "sizes (3, 128)"),
    _case("edit --output under a file", ["edit", "--component", "5:0:0", "--output", "{afile}/x.pt"],
          "cannot use"),
    _case("edit --data-dir is a file", ["edit", "--component", "5:0:0", "--data-dir", "{afile}"],
          "cannot use"),
    _case("encode-dictionary latin-1", ["encode-dictionary", "--dictionary", "{latin1}"], "UTF-8"),
    _case("encode-dictionary binary", ["encode-dictionary", "--dictionary", "{binary}"], "binary"),
    _case("encode-dictionary UTF-16", ["encode-dictionary", "--dictionary", "{utf16}"], "is UTF-16 text"),
    _case("image-mean missing images", ["image-mean", "--images", "{root}/none"], "none"),
    _case("image-mean corrupt --no-skip-bad", ["image-mean", "--images", "{corrupt}", "--no-skip-bad"],
          "cannot read image"),
    # issue 26: every input checked before anything is written (the organism's image mean,
    # an encoded dictionary): the folder listing is unchanged after each refusal
    _case("decompose missing dictionary", ["decompose", "--dictionary", "{root}/none.txt"], "none.txt"),
    _case("decompose 120k-character concept", ["decompose", "--dictionary", "{long}"],
          "line 2 has 120,000 characters"),
    _case("decompose dictionary folder", ["decompose", "--dictionary", "{images}"], "is a directory"),
    _case("decompose --layers 99", ["decompose", "--layers", "99"], "layer 99"),
    _case("decompose --rank 99", ["decompose", "--rank", "99"], "rank 99"),
    _case("decompose --sparsity 100000", ["decompose", "--sparsity", "100000"], "sparsity 100000"),
    _case("search --layers 99", ["search", "water", "--layers", "99"], "layer 99"),
    _case("search missing dictionary", ["search", "water", "--dictionary", "{root}/none.txt"], "none.txt"),
    _case("edit missing dictionary", ["edit", "--suppress", "water", "--dictionary", "{root}/none.txt",
                                      "--dry-run"], "none.txt"),
    _case("encode-dictionary missing", ["encode-dictionary", "--dictionary", "{root}/none.txt"], "none.txt"),
    _case("ground --world 4 --layers 99", ["ground", "--world", "4", "--layers", "99"], "layer 99"),
    _case("compare --sparsity 0", ["compare", "--tuned-pretrained", "v1", "--dictionary", "organism",
                                   "--sparsity", "0"], "--sparsity must be a positive integer"),
    _case("image-mean empty folder", ["image-mean", "--images", "{images}"], "images"),
    _case("compare missing checkpoint", ["compare", "--tuned-pretrained", "{root}/none.pt"],
          "--tuned-pretrained: checkpoint"),
    _case("compare missing base checkpoint",
          ["compare", "--tuned-pretrained", "v1", "--pretrained", "{root}/nobase.pt"],
          "--pretrained: checkpoint"),
    _case("apply-log from another model names the log's model and the given one",
          ["edit", "--apply-log", "{log_ok}", "--output", OUT],
          "sith-organism v1 (fingerprint f), not for the model given, sith-organism v1 (fingerprint "),
    _case("edit --pretrained garbage checkpoint",
          ["edit", "--pretrained", "{garbage}", "--component", "5:0:0", "--dry-run"], "a damaged one"),
    _case("edit --pretrained pickle checkpoint",
          ["edit", "--pretrained", "{pickle}", "--component", "5:0:0", "--dry-run"], "load refuses"),
    _case("search 10k-character query", ["search", "water " * 2000], "more than the text tower reads"),
    _case("edit 10k-character request", ["edit", "--suppress", "water " * 2000, "--dry-run"],
          "more than the text tower reads"),
]


@pytest.mark.parametrize("argv,needle", PARSER + BEFORE_MODEL + WITH_MODEL)
def test_bad_input(scratch, monkeypatch, capsys, argv, needle):
    root = Path(scratch["root"])
    monkeypatch.chdir(root)  # the default --data-dir, "data", is the scratch folder's
    monkeypatch.delenv("SITH_NO_SUCH_KEY", raising=False)
    before = _snapshot(root)
    argv = [a.format(**scratch) for a in argv]
    try:
        code = main(["-q", *argv])
    except SystemExit as exc:  # argparse's usage errors exit
        code = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], err
    assert "Traceback" not in err
    assert _snapshot(root) == before, "a failed command wrote files"


def test_table_covers_every_command():
    """The table has >= 40 cases and reaches every command (issue 9)."""
    cases = PARSER + BEFORE_MODEL + WITH_MODEL
    assert len(cases) >= 40
    commands = {" ".join(c.values[0][: 2 if c.values[0][:1] == ["organism"] else 1]) for c in cases}
    for name in ("decompose", "show", "search", "verify", "download-dictionary", "download-model-data",
                 "encode-dictionary", "image-mean", "edit", "organism train", "organism eval",
                 "organism export", "ground", "compare", "judge", "explore"):
        assert name in commands, name
