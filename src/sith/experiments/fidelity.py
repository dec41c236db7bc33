"""Sec. 4.1 — interpretability against fidelity (methods × K).

For every method (default ``topk, mp, omp, comp-0.2, comp-0.3, comp-0.4``) and sparsity K
(default 5, 10, 20, 50) the analysed layers are decomposed with the seed recipe otherwise
(docs/method.md §2–§5), and two numbers are averaged over all components:

* **fidelity** (the seed's, in the residual space): the explanation ``Σ_s w_s a_s`` is
  normalised, the image mean ``m`` added back, normalised again, mapped back through the
  pseudo-inverse of the projection ``P`` (d×e) and normalised: ``x̂ = unit(unit(unit(Σ w a) + m)
  · pinv(P))``; fidelity = ``cos(x, x̂)`` with ``x`` the singular vector (ln_post is not
  inverted, as in the seed). The joint-space fidelity ``cos(t, Σ w a)`` (docs/method.md §5) is
  reported beside it.
* **interpretability**: the judge's 1–5 score. The embedding judge needs a task: a component
  scores the best of its scores over a list of *themes* (each a concept list): on the
  organism the world's factors (values and synonyms), birds and the unsafe words; on other
  models a generic list of visual themes (:data:`GENERIC_THEMES`). The LLM judge is asked
  whether the concepts form one coherent, nameable visual concept.

Control: for each K, the ``comp-0.3`` explanations with their concepts replaced by random
dictionary concepts (same weights; seeded) — what fidelity and interpretability look like
when the concepts carry no information about the vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from sith.decompose.results import components_of
from sith.edit.judges import Explanation, Judge
from sith.edit.select import Task, judge_explanations, judge_record
from sith.errors import SithError
from sith.experiments.results import write_results
from sith.experiments.setup import Options, embedding_judge
from sith.factor import joint_targets, layer_svd, singular_directions, unit
from sith.organism.vocab import FACTORS, SPURIOUS_CLASSES, SYNONYMS, UNSAFE_WORDS
from sith.organism_eval.grounded import (
    EXPERIMENT_IMAGES,
    EXPERIMENT_SEED,
    WorldActivations,
    grounded_scores,
    world_activations,
)
from sith.pipeline import DecompositionConfig

DEFAULT_METHODS = ("topk", "mp", "omp", "comp-0.2", "comp-0.3", "comp-0.4")
DEFAULT_KS = (5, 10, 20, 50)
COHERENCE_QUESTION = "Do these concepts together describe one coherent, nameable visual concept?"
GENERIC_THEMES: dict[str, tuple[str, ...]] = {
    "colour": ("red", "green", "blue", "yellow", "black", "white", "colour"),
    "shape": ("circle", "square", "triangle", "line", "shape"),
    "texture": ("stripes", "dots", "fur", "wood", "metal", "texture"),
    "animal": ("dog", "cat", "bird", "fish", "horse", "animal"),
    "person": ("person", "face", "man", "woman", "child"),
    "place": ("beach", "forest", "city", "mountain", "room", "water"),
    "object": ("car", "chair", "phone", "bottle", "building"),
    "food": ("pizza", "bread", "fruit", "meat", "food"),
    "text": ("text", "letter", "number", "word", "sign"),
}


def organism_themes() -> dict[str, tuple[str, ...]]:
    """The world's factors (values + synonyms), birds and the unsafe words."""
    themes = {f: tuple(w for v in vals for w in (v, *SYNONYMS.get(v, ()))) for f, vals in FACTORS.items()}
    themes["bird"] = tuple(w for v in SPURIOUS_CLASSES for w in (v, *SYNONYMS.get(v, ())))
    themes["unsafe"] = UNSAFE_WORDS
    return themes


def residual_fidelity(
    x: torch.Tensor, recon: torch.Tensor, proj: torch.Tensor, mean: torch.Tensor | None
) -> torch.Tensor:
    """``(B,)`` cos(x, x̂) (module doc): ``x`` (B, d) singular vectors, ``recon`` (B, e) = Σ w a,
    ``proj`` (d, e), ``mean`` (e,) or None."""
    r = unit(recon.double())
    if mean is not None:
        r = unit(r + mean.double())
    back = unit(r @ torch.linalg.pinv(proj.double()))
    return (unit(x.double()) * back).sum(-1).float()


def interpretability(
    judge: Judge, explanations: list[Explanation], themes: dict[str, tuple[str, ...]]
) -> torch.Tensor:
    """``(n,)`` judge scores: best over themes (embedding or word judge) or the coherence question (LLM)."""
    if getattr(judge, "reads_concepts", False):  # the judge protocol: offline judges read concepts
        scores = [judge_explanations(judge, explanations, Task(k, k, v)).scores for k, v in themes.items()]
        return torch.stack(scores).amax(0)
    return judge_explanations(judge, explanations, Task("coherence", COHERENCE_QUESTION, ())).scores


def measure_config(
    ws: Any,
    config: DecompositionConfig,
    atoms: torch.Tensor,
    concepts: list[str],
    judge: Judge,
    themes: dict,
    shuffle: torch.Generator | None = None,
    world: WorldActivations | None = None,
    exact: bool = False,
) -> dict[str, float]:
    """Mean fidelities and interpretability of one configuration over its layers (``shuffle``:
    the random-concept control; ``exact``: the target itself as the reconstruction, the
    ceiling of the residual-space fidelity)."""
    mean = ws.image_mean() if config.image_mean else None
    res, joint, expl, comps = [], [], [], []
    for layer in config.layers:
        dec = ws.decompose_one(config, layer, atoms)
        idx, w = dec.indices.clamp_min(0), dec.scores.float()
        if shuffle is not None:
            idx = torch.randint(0, atoms.shape[0], idx.shape, generator=shuffle)
        recon = (w[..., None] * atoms[idx]).sum(-2)  # (H, rank, e)
        svd = layer_svd(ws.weights, layer, fold_ln=config.fold_ln)
        x = singular_directions(svd, config.sv_type, dec.rank)  # (H, rank, d)
        if exact:
            recon = joint_targets(ws.weights, x, mean).float()
        res.append(
            residual_fidelity(
                x.reshape(-1, x.shape[-1]), recon.reshape(-1, recon.shape[-1]), ws.weights.proj, mean
            )
        )
        t = joint_targets(ws.weights, x.reshape(-1, x.shape[-1]), mean).double()
        joint.append((t * unit(recon.double()).reshape(-1, recon.shape[-1])).sum(-1).float())
        comps += components_of([dec])
        expl += [
            [(concepts[int(i)], float(v)) for i, v in zip(ir, wr) if v > 0]
            for ir, wr in zip(idx.reshape(-1, idx.shape[-1]).tolist(), w.reshape(-1, w.shape[-1]).tolist())
        ]
    score = interpretability(judge, expl, themes).double()
    grounded = grounded_scores(world, comps, expl) if world is not None else (float("nan"), 0.0)
    return {
        "grounded_auc": grounded[0],
        "grounded_share": grounded[1],
        "fidelity": float(torch.cat(res).mean()),
        "joint_fidelity": float(torch.cat(joint).mean()),
        "interpretability": float(score.mean()),
        "judged_3_or_more": float((score >= 3).double().mean()),
    }


def pareto(rows: list[dict[str, Any]]) -> list[str]:
    """Names of the rows no other row beats on both fidelity and interpretability."""
    front = []
    for r in rows:
        if not any(
            o["fidelity"] >= r["fidelity"]
            and o["interpretability"] >= r["interpretability"]
            and (o["fidelity"], o["interpretability"]) != (r["fidelity"], r["interpretability"])
            for o in rows
        ):
            front.append(r["name"])
    return front


def run(
    ws: Any,
    opts: Options,
    out_dir: Path,
    judge: Judge | None = None,
    *,
    methods: tuple[str, ...] = DEFAULT_METHODS,
    ks: tuple[int, ...] = DEFAULT_KS,
    themes: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """``sith experiment fidelity``: every method × K, plus the random-concept control."""
    if opts.dataset != "organism":
        raise SithError("sith experiment fidelity is data-free: drop --dataset (it reads only the weights)")
    if not methods or not ks:
        raise SithError("pass at least one --methods entry and one --ks value")
    base = DecompositionConfig(
        ws.clip.info.model_name, ws.clip.info.pretrained, layers=opts.layers, dictionary=opts.dictionary
    )
    encoded = ws.encoded(base.dictionary, base.template)
    ks = tuple(k for k in ks if k <= len(encoded))
    if not ks:
        raise SithError(f"every --ks value exceeds the dictionary's {len(encoded)} concepts")
    configs = [
        ws.resolve(
            DecompositionConfig(
                base.model_name,
                base.pretrained,
                layers=opts.layers,
                dictionary=opts.dictionary,
                method=m,
                sparsity=k,
            )
        )
        for m in methods
        for k in ks
    ]
    atoms = ws.atoms(configs[0])
    is_organism = ws.clip.info.model_name == "sith-organism"
    themes = themes or (organism_themes() if is_organism else GENERIC_THEMES)
    reference = list(encoded.concepts)
    world = world_activations(ws.clip, list(configs[0].layers), configs[0].rank, n_images=EXPERIMENT_IMAGES,
                              seed=EXPERIMENT_SEED, progress=False) if is_organism else None
    judge = judge or embedding_judge(ws.clip, reference, opts.judge_score_by)
    rows = []
    gen = torch.Generator().manual_seed(0)
    comp = {
        k: ws.resolve(
            DecompositionConfig(
                base.model_name,
                base.pretrained,
                layers=opts.layers,
                dictionary=opts.dictionary,
                method="comp-0.3",
                sparsity=k,
            )
        )
        for k in ks
    }
    jobs = [(c, None, "method", "") for c in configs]
    jobs += [(comp[k], gen, "control", " (random concepts)") for k in ks]
    jobs += [(comp[ks[0]], None, "ceiling", " (exact target)")]
    for config, shuffle, kind, tag in tqdm(jobs, desc="fidelity", unit="config", disable=not opts.progress):
        m = measure_config(
            ws, config, atoms, list(encoded.concepts), judge, themes, shuffle, world, exact=kind == "ceiling"
        )
        rows.append(
            {
                "name": f"{config.method}{tag} K={config.sparsity}",
                "kind": kind,
                "method": config.method + tag,
                "K": config.sparsity,
                **m,
            }
        )
    front = pareto([r for r in rows if r["kind"] == "method"])
    for r in rows:
        r["pareto"] = r["name"] in front
    payload = {
        "experiment": "fidelity",
        "rows": rows,
        "pareto": front,
        "config": {
            **opts.record(),
            "methods": list(methods),
            "ks": list(ks),
            "themes": themes,
            "judge": judge_record(judge),
            "decomposition": configs[0].record(),
        },
    }
    fields = [
        "name",
        "kind",
        "method",
        "K",
        "fidelity",
        "joint_fidelity",
        "interpretability",
        "judged_3_or_more",
        "grounded_auc",
        "grounded_share",
        "pareto",
    ]
    csv_body = ",".join(fields) + "\n" + "".join(",".join(str(r[f]) for f in fields) + "\n" for r in rows)
    lines = [
        "| method | K | fidelity (residual) | fidelity (joint) | interpretability (1-5) | judged >= 3 "
        "| grounded AUC (share) | Pareto |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['K']} | "
        f"{r['fidelity']:.3f} | {r['joint_fidelity']:.3f} | {r['interpretability']:.2f} | "
        f"{r['judged_3_or_more']:.2f} | {r['grounded_auc']:.3f} ({r['grounded_share']:.2f}) | "
        f"{'yes' if r['pareto'] else ''} |"
        for r in rows
    ]
    md = "\n".join(
        [
            "# sith experiment fidelity",
            "",
            "Interpretability vs fidelity (Sec. 4.1); "
            "controls: comp-0.3 weights on random dictionary concepts; "
            "ceiling: the exact target mapped back (its residual fidelity is the most any explanation "
            "can reach; "
            "its interpretability/grounding columns use comp-0.3's explanations).",
            "",
            *lines,
            "",
            f"Command: `{opts.command}`",
            "",
        ]
    )
    write_results(
        out_dir, "fidelity", payload, csv_body=csv_body, markdown=md, plot=lambda p: pareto_plot(rows, p)
    )
    payload["markdown"] = md
    return payload


def pareto_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Fidelity (x) vs interpretability (y), one marker per method, K labelled, controls grey."""
    import matplotlib  # noqa: PLC0415 - heavy import, only when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 5))
    for method in dict.fromkeys(r["method"] for r in rows if r["kind"] == "method"):
        pts = [r for r in rows if r["method"] == method and r["kind"] == "method"]
        ax.plot([p["fidelity"] for p in pts], [p["interpretability"] for p in pts], "o-", label=method)
        for p in pts:
            ax.annotate(str(p["K"]), (p["fidelity"], p["interpretability"]), fontsize=7)
    ceiling = [r for r in rows if r["kind"] == "ceiling"]
    for c in ceiling:
        ax.axvline(c["fidelity"], color="grey", linestyle=":", label="ceiling: exact target")
    ctl = [r for r in rows if r["kind"] == "control"]
    ax.plot(
        [p["fidelity"] for p in ctl],
        [p["interpretability"] for p in ctl],
        "x--",
        color="grey",
        label="control: random concepts",
    )
    front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["fidelity"])
    ax.plot(
        [p["fidelity"] for p in front],
        [p["interpretability"] for p in front],
        ":",
        color="black",
        label="Pareto front",
    )
    ax.set_xlabel("fidelity (residual-space cosine)")
    ax.set_ylabel("interpretability (judge score, 1-5)")
    ax.legend(fontsize=8)
    ax.set_title("sith experiment fidelity (labels: K)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
