"""The checks the zoo runs on one open_clip architecture (issue 26; driver: ``benchmarks/zoo.py``).

For an architecture the loader accepts, :func:`run_checks` loads it with random weights
(``load_clip(name, "none")``: ``open_clip.create_model(name, pretrained=None)`` under
``torch.manual_seed(0)``) and runs, in order, stopping at the first failure:

1. ``verify``: the extracted per-head weights rebuild every block's real attention output
   (:func:`sith.load.verify`); max abs error per layer ≤ ``VERIFY_TOL`` (1e-5). With
   LayerScale, once more with the LayerScale set to random values in [0.5, 1.5]. Then the
   readout: ``LN_post(x_cls)·P`` (docs/method.md §3's target map) of the stream entering
   ``ln_post`` equals ``encode_images`` to ≤ 1e-5 relative (:func:`check_readout`).
2. ``decompose``: the last layer, seed recipe (foldln, right vectors, comp-0.3, K = 5,
   rank min(64, dh)) against a dictionary of ``n_words`` common English words
   (:func:`words`) encoded with the model's own (random) text tower, atoms centred as the
   seed does; the image mean is the mean of the unit embeddings of 4 seeded noise images.
   Checks: shapes ``(H, rank, K)``, indices valid and distinct per vector, weights ≥ 0 and
   sorted, fidelity finite in [0, 1], a second run identical, save → load identical.
3. ``edit``: suppress (α = 0) components 0 and 1 of head 0 and component 3 of the last head
   of the last layer with the exact edit (:mod:`sith.edit`), write the checkpoint
   (``.safetensors``) and its log, reload it with ``load_clip(name, checkpoint)``. Checks:
   the reloaded fingerprint is the log's; only that layer's ``out_proj.weight`` changed,
   only in the edited heads' columns; the reloaded folded matrix of each edited head equals
   ``W − Σ s_i u_i v_iᵀ`` (max abs error ≤ ``EDIT_RTOL``·s_max) and its singular values are the
   old ones with exactly those set to 0; every other head of the layer keeps its singular
   values bit for bit; ``verify`` still passes on the reloaded model.
4. ``apply-log``: :func:`sith.edit.apply_log` on the original model reproduces the
   checkpoint byte for byte.

Random weights: the checks are about the loader and the exact algebra, not about what
the explanations mean (a random text tower's embeddings of words are not concepts).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import torch

#: verify: max abs error per layer (the issue's bar; fp32 rounding is ~1e-7 here).
VERIFY_TOL = 1e-5
#: edit: max abs error of the reloaded folded matrix, relative to the head's largest singular value.
EDIT_RTOL = 1e-5
#: Components suppressed in the last layer: (head, index); head -1 is the last head.
EDITS = ((0, 0), (0, 1), (-1, 3))


class CheckFailed(Exception):
    """One check did not pass; ``check`` names it, the message says how."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


def words(n: int = 200) -> list[str]:
    """``n`` common English words (alphabetic, ≥ 3 letters; wordfreq's frequency order)."""
    import wordfreq

    out = [w for w in wordfreq.top_n_list("en", 20 * n) if w.isalpha() and len(w) >= 3]
    return out[:n]


def peak_rss_mb() -> float:
    """This process's peak resident set size (``VmHWM``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _expect(ok: bool, check: str, message: str) -> None:
    if not ok:
        raise CheckFailed(check, message)


def check_verify(clip: Any, check: str = "verify") -> float:
    """Max over layers of :func:`sith.load.verify`'s error; CheckFailed above ``VERIFY_TOL``."""
    from sith.load import verify

    errors = verify(clip, n_tokens=8, seed=0)
    worst = max(errors)
    layer = errors.index(worst)
    _expect(worst <= VERIFY_TOL, check, f"layer {layer} max abs error {worst:.2e} > {VERIFY_TOL:.0e}")
    return worst


def check_verify_random_layer_scale(clip: Any) -> float | None:
    """For a LayerScale model: ``verify`` again with every ``ls_1`` set to seeded values in
    [0.5, 1.5] (open_clip initialises them to a constant such as 1e-4, which would make
    the absolute 1e-5 bar meaningless); None for a model without LayerScale."""
    import copy

    from sith.load import wrap_open_clip

    if clip.weights.layers[0].layer_scale is None:
        return None
    model = copy.deepcopy(clip.model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in model.visual.transformer.resblocks:
            block.ls_1.gamma.copy_(torch.rand(block.ls_1.gamma.shape, generator=gen) + 0.5)
    return check_verify(wrap_open_clip(model, model_name=clip.info.model_name), check="verify")


def check_readout(clip: Any) -> float:
    """The target map of docs/method.md §3 is the model's own readout: ``LN_post(x_cls)·P`` of the
    residual stream entering ``ln_post`` equals ``encode_images`` (2 seeded noise images);
    returns the max abs error relative to the largest embedding entry (bar ``VERIFY_TOL``)."""
    from sith.factor import ln_post

    seen: list[torch.Tensor] = []
    hook = clip.model.visual.ln_post.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    try:
        s = clip.image_size
        emb = clip.encode_images(torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(1)))
    finally:
        hook.remove()
    x = seen[0]
    cls = x[:, 0] if x.dim() == 3 else x
    mine = ln_post(clip.weights, cls.cpu()) @ clip.weights.proj.double()
    err = float((mine - emb.double().cpu()).abs().max() / emb.abs().max())
    _expect(
        err <= VERIFY_TOL, "readout", f"LN_post(cls)·P differs from encode_images by {err:.2e} (relative)"
    )
    return err


def image_mean(clip: Any, n: int = 4, seed: int = 0) -> torch.Tensor:
    """``(e,)`` mean unit embedding of ``n`` seeded noise images (a stand-in image mean)."""
    gen = torch.Generator().manual_seed(seed)
    s = clip.image_size
    pixels = torch.randn(n, 3, s, s, generator=gen)
    return torch.nn.functional.normalize(clip.encode_images(pixels), dim=-1).mean(dim=0)


def check_decomposition(dec: Any, n_atoms: int, H: int, rank: int, K: int) -> None:
    """Shapes, valid distinct indices, sorted non-negative weights, fidelity in [0, 1]."""
    _expect(tuple(dec.scores.shape) == (H, rank, K), "decompose", f"scores shape {tuple(dec.scores.shape)}")
    _expect(
        tuple(dec.indices.shape) == (H, rank, K), "decompose", f"indices shape {tuple(dec.indices.shape)}"
    )
    idx = dec.indices
    _expect(bool(((idx >= 0) & (idx < n_atoms)).all()), "decompose", "an index out of range")
    distinct = torch.sort(idx, dim=-1).values.diff(dim=-1)
    _expect(bool((distinct != 0).all()), "decompose", "an atom selected twice for one vector")
    s = dec.scores
    _expect(bool((s >= 0).all() and torch.isfinite(s).all()), "decompose", "a negative or non-finite weight")
    _expect(bool((s.diff(dim=-1) <= 0).all()), "decompose", "weights not sorted descending")
    f = dec.fidelity
    _expect(
        bool(torch.isfinite(f).all() and (f >= 0).all() and (f <= 1 + 1e-5).all()),
        "decompose",
        f"fidelity outside [0, 1] (min {float(f.min()):.3g}, max {float(f.max()):.3g})",
    )


def run_decompose(clip: Any, workdir: Path, n_words: int) -> dict[str, Any]:
    """Step 2 of the module doc; returns the numbers to record."""
    from sith.decompose import LayerDecomposition, decompose_layer
    from sith.encode import dictionary_atoms

    w = clip.weights
    concepts = words(n_words)
    atoms = dictionary_atoms(clip.encode_text(concepts))
    _expect(bool(torch.isfinite(atoms).all()), "decompose", "non-finite atoms")
    m = image_mean(clip)
    layer = w.n_layers - 1
    dec = decompose_layer(w, atoms, concepts, layer, image_mean=m)
    rank, K = dec.rank, dec.sparsity
    check_decomposition(dec, len(concepts), w.n_heads, rank, K)
    again = decompose_layer(w, atoms, concepts, layer, image_mean=m)
    _expect(
        torch.equal(again.indices, dec.indices) and torch.equal(again.scores, dec.scores),
        "decompose",
        "a second run gave another result",
    )
    back = LayerDecomposition.load(dec.save(workdir / "layer.pt"), expect_fingerprint=w.info.fingerprint)
    _expect(
        torch.equal(back.indices, dec.indices) and torch.equal(back.scores, dec.scores),
        "decompose",
        "save -> load changed the result",
    )
    return {
        "layer": layer,
        "rank": rank,
        "n_words": len(concepts),
        "fidelity_mean": float(dec.fidelity.mean()),
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _state_changes(old: Any, new: Any) -> list[str]:
    a, b = old.model.state_dict(), new.model.state_dict()
    return sorted(k for k in a if not torch.equal(a[k], b[k]))


def check_folded(old_w: Any, new_w: Any, layer: int, edits: list[tuple[int, int]]) -> float:
    """The reloaded folded matrices against the exact expectation (module doc, step 3);
    returns the worst error relative to s_max."""
    from sith.factor import head_vo

    old, new = head_vo(old_w, layer, fold_ln=True), head_vo(new_w, layer, fold_ln=True)
    U, S, Vh = (x.double() for x in old.svd)
    S_new = new.svd.S.double()
    worst = 0.0
    for h in range(old_w.n_heads):
        idx = [i for hh, i in edits if hh == h]
        if not idx:
            _expect(torch.equal(old.svd.S[h], new.svd.S[h]), "edit", f"head {h} (not edited) changed")
            continue
        drop = sum(S[h, i] * torch.outer(U[h, :, i], Vh[h, i]) for i in idx)
        dense_old = old.A[h].double() @ old.B[h].double()
        dense_new = new.A[h].double() @ new.B[h].double()
        err = float((dense_new - (dense_old - drop)).abs().max() / S[h, 0])
        expected = S[h].clone()
        expected[idx] = 0.0
        expected = expected.sort(descending=True).values
        s_err = float((S_new[h] - expected).abs().max() / S[h, 0])
        worst = max(worst, err, s_err)
        _expect(
            err <= EDIT_RTOL and s_err <= EDIT_RTOL,
            "edit",
            f"head {h}: folded matrix off by {err:.2e}, singular values by {s_err:.2e} (x s_max)",
        )
    return worst


def run_edit(clip: Any, workdir: Path) -> dict[str, Any]:
    """Steps 3 and 4 of the module doc; returns the numbers to record."""
    from sith.edit import EditRequest, apply_log, apply_plan, plan_edits
    from sith.load import load_clip

    w = clip.weights
    layer, H = w.n_layers - 1, w.n_heads
    edits = [(h % H, i) for h, i in EDITS]
    plan = plan_edits(clip, EditRequest(components=[(layer, h, i, 0.0) for h, i in edits]))
    ckpt, log = apply_plan(clip, plan, workdir / "edited.safetensors")
    again = load_clip(clip.info.model_name, str(ckpt))
    import json

    record = json.loads(log.read_text())
    _expect(
        again.info.fingerprint == record["output"]["fingerprint"],
        "edit",
        "reloaded fingerprint differs from the log's",
    )
    changed = _state_changes(clip, again)
    want = [f"visual.transformer.resblocks.{layer}.attn.out_proj.weight"]
    _expect(changed == want, "edit", f"changed tensors {changed[:3]}, expected {want}")
    dh = w.d_head
    a, b = clip.model.state_dict()[want[0]], again.model.state_dict()[want[0]]
    cols = sorted({c for c in range(a.shape[1]) if not torch.equal(a[:, c], b[:, c])})
    heads = sorted({c // dh for c in cols})
    _expect(heads == sorted({h for h, _ in edits}), "edit", f"columns of heads {heads} changed")
    rel = check_folded(w, again.weights, layer, edits)
    check_verify(again, check="edit")
    del again
    _, ckpt2, _ = apply_log(clip, log, workdir / "replayed.safetensors")
    _expect(_sha256(ckpt) == _sha256(ckpt2), "apply-log", "the replayed checkpoint differs from the edit's")
    return {
        "edited": [[layer, h, i] for h, i in edits],
        "edit_rel_error": rel,
        "checkpoint_mb": round(ckpt.stat().st_size / 2**20, 1),
    }


def run_checks(name: str, workdir: Path, *, n_words: int = 200) -> dict[str, Any]:
    """Load ``name`` (random weights) and run every check; a dict to record (see zoo.py).

    ``status`` is ``pass``, ``fail`` (``failed_check`` and ``message`` say which and why),
    ``refused`` (the loader's one-line refusal) or ``load-error`` (the loader could not build
    the model, e.g. a text tower or tokenizer that must come from the Hugging Face hub).
    """
    from sith.errors import SithError
    from sith.load import load_clip

    out: dict[str, Any] = {"name": name, "times_s": {}}
    t = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        out["times_s"][step] = round(now - t, 2)
        t = now

    try:
        clip = load_clip(name, "none")
    except SithError as exc:
        msg = str(exc)
        return {
            **out,
            "status": "refused" if msg.startswith("cannot analyse") else "load-error",
            "message": msg,
        }
    lap("load")
    w = clip.weights
    out["shape"] = {
        "layers": w.n_layers,
        "heads": w.n_heads,
        "d": w.d_model,
        "dh": w.d_head,
        "e": w.d_embed,
        "layer_scale": w.layers[0].layer_scale is not None,
    }
    step = "verify"
    try:
        out["verify_max_error"] = check_verify(clip)
        out["verify_random_ls_max_error"] = check_verify_random_layer_scale(clip)
        out["readout_rel_error"] = check_readout(clip)
        lap(step)
        step = "decompose"
        out["decompose"] = run_decompose(clip, workdir, n_words)
        lap(step)
        step = "edit"
        out["edit"] = run_edit(clip, workdir)
        lap(step)
    except CheckFailed as exc:
        return {**out, "status": "fail", "failed_check": exc.check, "message": str(exc)}
    except (SithError, RuntimeError, ValueError) as exc:  # the library refused or broke mid-way
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {**out, "status": "fail", "failed_check": step, "message": f"{type(exc).__name__}: {first}"}
    return {**out, "status": "pass"}
