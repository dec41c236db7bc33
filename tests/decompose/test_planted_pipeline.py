"""A planted circuit: heads whose write directions are known dictionary atoms, of both signs.

Chosen heads' value-output matrices ``W_O`` are replaced so that their folded matrix
``W = C·diag(γ1)·W_V·W_O·C`` has right singular vectors ``x_k`` chosen here (docs/method.md §2).
The dictionary holds, for each ``x_k``, the atom of ``x_k`` *and* the atom of ``−x_k`` — each the
exact target of docs/method.md §3 (LN_post with its gain and bias, the projection, the image
mean), made exact after the dictionary's own centring (§4) — plus random distractors. One
planted component per head is written so that the sign rule flips it (its canonical ``v`` is
``−x``). SITH must name every planted component exactly: the stored (``+v``) explanation names
the atom of the canonical sign with weight ≈ 1, the ``−v`` explanation names the other one, and
the judged ``--suppress`` rule that reads both signs finds the flipped one through ``−v``.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from sith.decompose import decompose_layer
from sith.edit import EditRequest, Evidence, plan_edits
from sith.edit.judges import WordJudge
from sith.edit.select import negated_explanations
from sith.encode import dictionary_atoms
from sith.factor import centering, head_vo, joint_targets, unit
from sith.load.weights import VisionWeights
from tests.conftest import random_weights

LAYER, HEADS = 1, (0, 2)
#: Per head: (name of +x, name of −x, flip by the sign rule) for components 0, 1, 2.
PLANTED = {
    0: (("skull", "lantern", True), ("ocean", "violin", False), ("crimson", "tractor", False)),
    2: (("meadow", "piano", False), ("hexagon", "glacier", True), ("sparrow", "kettle", False)),
}
SINGULAR = (3.0, 2.0, 1.5)


def planted_model(seed: int = 0) -> tuple[VisionWeights, dict[tuple[int, int], torch.Tensor]]:
    """Random weights with layer 1, heads 0 and 2 writing planted centred unit ``x``s."""
    w = random_weights(n_layers=2, d=64, n_heads=4, e=32, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    lw = w.layers[LAYER]
    W_O = lw.W_O.clone().double()
    xs = {}
    for h in HEADS:
        C = centering(torch.eye(w.d_model, dtype=torch.float64))
        R = (C * lw.ln1_weight.double()) @ lw.W_V[h].double()  # C·diag(γ1)·W_V
        Q, T = torch.linalg.qr(R)  # R = Q T, Q (d, dh)
        X = torch.linalg.qr(centering(torch.randn(w.d_model, 3, generator=g, dtype=torch.float64).T).T)[0]
        M = torch.linalg.qr(torch.randn(w.d_head, 3, generator=g, dtype=torch.float64))[0]  # (dh, 3)
        for k, (_, _, flip) in enumerate(PLANTED[h]):
            u = Q @ M[:, k]
            lead_positive = u[u.abs().argmax()] > 0
            if lead_positive == flip:  # the sign rule keeps (or flips) +x as asked
                M[:, k] = -M[:, k]
        W_O[h] = torch.linalg.solve(T, M @ torch.diag(torch.tensor(SINGULAR, dtype=torch.float64)) @ X.T)
        for k in range(3):
            xs[(h, k)] = X[:, k]
    layers = list(w.layers)
    layers[LAYER] = type(lw)(**{**{f: getattr(lw, f) for f in lw.__dataclass_fields__}, "W_O": W_O.float()})
    return VisionWeights(tuple(layers), w.ln_post_weight, w.ln_post_bias, w.proj, w.info), xs


def planted_dictionary(w: VisionWeights, xs: dict, image_mean: torch.Tensor, seed: int = 0
                       ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Concepts, raw embeddings whose centred atoms (docs/method.md §4) equal the planted targets
    exactly, and those atoms."""
    g = torch.Generator().manual_seed(seed + 2)
    names, targets = [], []
    for (h, k), x in xs.items():
        pos, neg, _ = PLANTED[h][k]
        names += [pos, neg]
        targets += [joint_targets(w, x[None], image_mean)[0], joint_targets(w, -x[None], image_mean)[0]]
    t = torch.stack(targets).double()
    distractors = F.normalize(torch.randn(150, w.d_embed, generator=g, dtype=torch.float64), dim=-1)
    U = torch.cat([t, distractors])
    for _ in range(50):  # fixed point: unit(U_p − mean(U)) = t_p with |U_p| = 1
        mu = U.mean(0)
        b = (t @ mu)[:, None]
        s = -b + torch.sqrt(b * b - (mu @ mu - 1))
        U = torch.cat([mu + s * t, distractors])
    concepts = names + [f"w{i}" for i in range(150)]
    return concepts, U.float(), dictionary_atoms(U.float())


def test_sith_names_every_planted_component_exactly_with_both_signs():
    w, xs = planted_model()
    g = torch.Generator().manual_seed(7)
    image_mean = 0.55 * unit(torch.randn(w.d_embed, generator=g, dtype=torch.float64)).float()
    concepts, _, atoms = planted_dictionary(w, xs, image_mean)
    for (h, k), _ in xs.items():  # the dictionary's centring kept the planted atoms exact
        assert torch.allclose(atoms[concepts.index(PLANTED[h][k][0])].double(),
                              joint_targets(w, xs[(h, k)][None], image_mean)[0].double(), atol=1e-5)
    svd = head_vo(w, LAYER, fold_ln=True).svd
    dec = decompose_layer(w, atoms, concepts, LAYER, image_mean=image_mean, method="comp-0.3", sparsity=5)
    for h in HEADS:
        assert torch.allclose(svd.S[h, :3].double(), torch.tensor(SINGULAR, dtype=torch.float64), atol=1e-4)
        for k, (pos, neg, flip) in enumerate(PLANTED[h]):
            sign = float(svd.Vh[h, k].double() @ xs[(h, k)])
            assert abs(abs(sign) - 1) < 1e-5 and (sign < 0) == flip  # the sign rule did as planted
            top, weight = dec.explanation(h, k)[0]
            assert top == (neg if flip else pos), (h, k, dec.explanation(h, k))
            assert weight > 0.99 and float(dec.fidelity[h, k]) > 0.999
    # -v's explanation (negated before LN_post and the image mean) names the other atom
    clip = SimpleNamespace(weights=w, info=w.info)
    minus = negated_explanations(w, [dec], atoms, concepts, image_mean=image_mean)
    for h in HEADS:
        for k, (pos, neg, flip) in enumerate(PLANTED[h]):
            assert minus[h * dec.rank + k][0][0] == (pos if flip else neg)
    # suppressing "skull" (written as -v by head 0, component 0) finds it through -v (random
    # components of the unplanted heads may mention it too)
    plan = plan_edits(
        clip,
        EditRequest(suppress=["skull"], signs="both", allow_large=True),
        Evidence(
            (dec,), judge_for=lambda n: WordJudge(n), atoms=atoms, concepts=concepts, image_mean=image_mean
        ),
    )
    rows = {(r["layer"], r["head"], r["index"]): r for r in plan.rows()}
    skull = rows[(LAYER, 0, 0)]
    assert skull["reason"].endswith("[-v]") and skull["explanation"][0][0] == "skull"
    others = {(LAYER, h, k) for h in HEADS for k in range(3)} - {(LAYER, 0, 0)}
    assert not others & set(rows)  # no other planted component
