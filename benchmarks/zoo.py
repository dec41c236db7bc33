"""Zoo check (issue 26): every open_clip architecture through the loader, verify, one
decomposed layer and an exact edit round trip, with random weights.

For each name in ``open_clip.list_models()`` (smallest first):

- the loader refuses it (its config check: ResNet, timm towers such as ConvNeXt/SigLIP/EVA,
  attentional or average pooling): ``load_clip``'s one-line refusal is recorded (it comes
  from the config, before anything is built); with ``--module-check`` the model is also
  built and handed to ``extract_weights`` to check the module-level refusal agrees;
- it is accepted: ``benchmarks/zoo_checks.py`` runs verify / decompose / edit / apply-log
  in a fresh process (so peak RSS is that architecture's own), recording times, peak RSS
  and pass/fail with the failing check;
- it is larger than ``--max-params`` (whole CLIP, text tower included): ``skipped (size)``
  with its parameter count; run it elsewhere with a larger ``--max-params``.

    HF_HUB_OFFLINE=1 python benchmarks/zoo.py                         # all that fit, ~40 min on 2 cores
    python benchmarks/zoo.py --small                                   # the CI subset
    python benchmarks/zoo.py --only ViT-H-14,ViT-g-14 --max-params 5e9 # big ones, elsewhere
    python benchmarks/zoo.py --table benchmarks/results/zoo.json       # print the markdown table

Results go to ``--output`` (default ``benchmarks/results/zoo.json``), rewritten atomically
after every architecture; ``--resume`` keeps the finished ones of an earlier run.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.zoo_checks

#: The CI subset (tests/benchmarks/test_zoo.py): two widths/head counts, LayerScale, and one
#: architecture of each refusal family (ResNet, timm SigLIP, timm ConvNeXt, attentional
#: pooler, average pooling).
SMALL = (
    "ViT-S-32",
    "ViT-M-16-alt",
    "RN50",
    "ViT-B-16-SigLIP",
    "convnext_base",
    "coca_ViT-B-32",
    "ViT-L-14-CLIPA",
)
DEFAULT_MAX_PARAMS = 6e8
FINAL = ("pass", "fail", "refused", "load-error", "skipped (size)")


def param_counts(name: str) -> tuple[int | None, int | None]:
    """``(whole model, vision tower)`` parameter counts from the config, built on the meta
    device (no memory, no download); None where the model cannot be built so (a Hugging
    Face text tower needs its config from the hub: then the vision count only)."""
    import open_clip
    import torch

    cfg = copy.deepcopy(open_clip.get_model_config(name) or {})
    cfg.pop("custom_text", None)
    cls = open_clip.CoCa if "multimodal_cfg" in cfg else open_clip.CLIP
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    try:
        with torch.device("meta"):
            model = cls(**cfg)
        return count(model), count(model.visual)
    except Exception:  # noqa: BLE001 - an HF text tower (needs the hub) or an exotic timm tower
        pass
    try:
        cfg["text_cfg"] = {"width": 64, "heads": 1, "layers": 1}
        with torch.device("meta"):
            return None, count(
                open_clip.CLIP(**{k: v for k, v in cfg.items() if k != "multimodal_cfg"}).visual
            )
    except Exception:  # noqa: BLE001
        return None, None


def catalogue(max_params: float, only: list[str] | None) -> list[dict[str, Any]]:
    """One entry per architecture to look at: name, counts, whether it fits, smallest first."""
    import open_clip

    names = open_clip.list_models()
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise SystemExit(
                f"error: unknown architecture(s) {', '.join(unknown)}; see open_clip.list_models()"
            )
        names = list(only)
    rows = []
    for name in names:
        total, visual = param_counts(name)
        size = total if total is not None else visual
        rows.append(
            {
                "name": name,
                "params": total,
                "params_visual": visual,
                "fits": size is not None and size <= max_params,
            }
        )
    return sorted(rows, key=lambda r: (r["params"] or r["params_visual"] or float("inf"), r["name"]))


def module_refusal(name: str) -> str:
    """Build the refused architecture (random weights) and hand it to ``extract_weights``:
    the module-level refusal's message, or what happened instead."""
    import open_clip
    import torch

    from sith.errors import SithError
    from sith.load import ModelInfo, extract_weights

    try:
        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None)
    except Exception as exc:  # noqa: BLE001 - e.g. a Hugging Face text tower offline
        return f"not built: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"
    try:
        extract_weights(model, ModelInfo(name, "", ""))
    except SithError as exc:
        return str(exc)
    return "ACCEPTED by extract_weights although the config check refuses it"


def worker(name: str, out: Path, n_words: int, workdir: Path | None, module_check: bool) -> None:
    """Run the checks of one architecture (or, with ``module_check``, the module-level
    refusal of a refused one) in this process and write its record to ``out``."""
    from benchmarks.zoo_checks import peak_rss_mb, run_checks

    start = time.perf_counter()
    if module_check:
        record = {"name": name, "module_message": module_refusal(name)}
    else:
        with tempfile.TemporaryDirectory(prefix="sith-zoo-", dir=workdir) as tmp:
            record = run_checks(name, Path(tmp), n_words=n_words)
    record["time_s"] = round(time.perf_counter() - start, 1)
    record["peak_rss_mb"] = round(peak_rss_mb())
    out.write_text(json.dumps(record))


def config_refusal(name: str) -> str | None:
    """The loader's one-line refusal of ``name`` (``load_clip`` refuses from the config,
    before building anything), or None when the loader accepts the architecture."""
    from sith.errors import SithError
    from sith.load import load_clip
    from sith.load.openclip_checks import check_config

    try:
        check_config(name)
    except SithError:
        try:
            load_clip(name, "none")
        except SithError as exc:
            return str(exc)
        return "ACCEPTED by load_clip although check_config refuses it"
    return None


def run_isolated(name: str, args: argparse.Namespace, *, module_check: bool = False) -> dict[str, Any]:
    """:func:`worker` in a fresh interpreter (its own peak RSS; a crash or timeout is recorded)."""
    with tempfile.TemporaryDirectory(prefix="sith-zoo-rec-") as tmp:
        out = Path(tmp) / "record.json"
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            name,
            "--worker-out",
            str(out),
            "--words",
            str(args.words),
        ]
        argv += ["--workdir", str(args.workdir)] if args.workdir else []
        argv += ["--worker-module-check"] if module_check else []
        start = time.perf_counter()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {
                "name": name,
                "status": "fail",
                "failed_check": "timeout",
                "message": f"no result within --timeout {args.timeout} s",
            }
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:200]
            return {
                "name": name,
                "status": "fail",
                "failed_check": "crash",
                "message": f"exit code {proc.returncode}: {tail}",
                "time_s": round(time.perf_counter() - start, 1),
            }
        return json.loads(out.read_text())


def environment() -> dict[str, Any]:
    import open_clip
    import torch

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/zoo.py", *sys.argv[1:]]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def save(results: list[dict[str, Any]], env: dict[str, Any], path: Path) -> None:
    from sith.io import save_json

    save_json({"environment": env, "results": results}, path)


def _fmt(x: Any, spec: str) -> str:
    return "" if x is None else format(x, spec)


def _params_m(r: dict[str, Any]) -> str:
    p = r.get("params") or r.get("params_visual")
    return _fmt(p / 1e6 if p else None, ".0f") + ("" if r.get("params") or not p else " (vision)")


def _accepted_row(r: dict[str, Any]) -> str:
    s = r.get("shape", {})
    shape = f"{s['layers']} × {s['heads']} × {s['dh']} ({s['d']})" if s else ""
    status = r["status"] + (f": {r['failed_check']} — {r['message']}" if r["status"] == "fail" else "")
    if r["status"] == "skipped (size)":
        p = r.get("params") or r.get("params_visual") or 0
        status += f" — run with --max-params {p * 1.01:.2g}"
    ls_err = r.get("verify_random_ls_max_error")
    verr = _fmt(r.get("verify_max_error"), ".1e") + (f" ({ls_err:.1e} random LS)" if ls_err else "")
    rss = r.get("peak_rss_mb")
    return (
        f"| {r['name']} | {_params_m(r)} | {shape} | {'✓' if s.get('layer_scale') else ''} | {status} | "
        f"{verr} | {_fmt(r.get('readout_rel_error'), '.1e')} | "
        f"{_fmt(r.get('edit', {}).get('edit_rel_error'), '.1e')} | "
        f"{_fmt(r.get('time_s'), '.0f')} | {_fmt(rss / 1024 if rss else None, '.1f')} |"
    )


def refusal_reason(message: str) -> str:
    """The reason part of a refusal, with the timm model's own name dropped (for grouping)."""
    reason = message.split("': ", 1)[-1].split("; SITH covers", 1)[0]
    return re.sub(r"the timm model '[^']*'", "a timm model", reason)


def table(data: dict[str, Any]) -> str:
    """Markdown: one row per accepted architecture (pass / fail / skipped), one per
    architecture the loader could not build here, and the refusals grouped by reason."""
    rows = data["results"]
    out = [
        "| architecture | params (M) | layers × heads × dh (d) | LS | status | verify max err | "
        "readout err | edit err (× s_max) | time (s) | peak RSS (GiB) |",
        "|---|---:|---|:-:|---|---:|---:|---:|---:|---:|",
    ]
    out += [_accepted_row(r) for r in rows if r["status"] not in ("refused", "load-error")]
    errors = [r for r in rows if r["status"] == "load-error"]
    if errors:
        out += ["", "| not loadable here | params (M) | loader's message |", "|---|---:|---|"]
        out += [f"| {r['name']} | {_params_m(r)} | {r['message']} |" for r in errors]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["status"] == "refused":
            groups.setdefault(refusal_reason(r["message"]), []).append(r)
    if groups:
        out += ["", "| refused: reason | count | architectures |", "|---|---:|---|"]
        for reason, rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            out.append(f"| {reason} | {len(rs)} | {', '.join(r['name'] for r in rs)} |")
        example = next(iter(groups.values()))[0]["message"]
        out += ["", f"Example refusal (one line): `{example}`"]
        odd = [
            r for r in rows if r["status"] == "refused" and r.get("module_message", "").startswith("ACCEPTED")
        ]
        out += [f"Module-level check ACCEPTED {r['name']} although its config is refused" for r in odd]
        built = [
            r for r in rows if r["status"] == "refused" and "not built" not in r.get("module_message", "")
        ]
        agree = [
            r["name"]
            for r in built
            if r["module_message"].startswith("cannot analyse") and "\n" not in r["module_message"]
        ]
        if built:
            out.append(
                f"Built and handed to `extract_weights` (`--module-check`): refused in one line for "
                f"{len(agree)} of {len(built)} ({', '.join(agree)})."
            )
    return "\n".join(out) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--max-params",
        type=float,
        default=DEFAULT_MAX_PARAMS,
        help=f"skip accepted architectures with more parameters (default {DEFAULT_MAX_PARAMS:.0e})",
    )
    p.add_argument(
        "--only", help="comma-separated architecture names (default: all of open_clip.list_models())"
    )
    p.add_argument("--small", action="store_true", help=f"the CI subset: {', '.join(SMALL)}")
    p.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "zoo.json",
        help="results JSON, rewritten atomically after each architecture",
    )
    p.add_argument("--resume", action="store_true", help="keep finished architectures of --output")
    p.add_argument(
        "--table", type=Path, metavar="FILE.json", help="print the markdown table of a results file"
    )
    p.add_argument("--words", type=int, default=200, help="dictionary size (default 200)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per architecture (default 1800)")
    p.add_argument("--workdir", type=Path, help="where checkpoints are written (default: the temp dir)")
    p.add_argument(
        "--module-check",
        action="store_true",
        help="also build each refused architecture that fits and check extract_weights refuses it",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-module-check", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.max_params > 0:
        p.error(f"--max-params must be > 0, got {args.max_params}")
    if args.words < 5:
        p.error(f"--words must be >= 5 (the sparsity is 5), got {args.words}")
    if args.timeout < 1:
        p.error(f"--timeout must be >= 1, got {args.timeout}")
    if args.only is not None and args.small:
        p.error("--only and --small name the architectures twice; pass one of them")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.worker_out, args.words, args.workdir, args.worker_module_check)
        return 0
    if args.table:
        if not args.table.is_file():
            raise SystemExit(f"error: {args.table} does not exist; run benchmarks/zoo.py first")
        print(table(json.loads(args.table.read_text())), end="")
        return 0
    only = (
        list(SMALL)
        if args.small
        else ([n.strip() for n in args.only.split(",") if n.strip()] if args.only else None)
    )
    rows = catalogue(args.max_params, only)
    done: dict[str, dict[str, Any]] = {}
    if args.resume and args.output.is_file():
        done = {r["name"]: r for r in json.loads(args.output.read_text())["results"] if r["status"] in FINAL}
    env, results = environment(), []
    for row in rows:
        name = row["name"]
        base = {k: row[k] for k in ("params", "params_visual")}
        message = None if name in done else config_refusal(name)
        if name in done:
            record = done[name]
        elif message is not None:
            record = {"name": name, "status": "refused", "message": message, **base}
            if not args.module_check:
                record["module_message"] = "not built (pass --module-check)"
            elif row["fits"]:
                record.update(
                    {
                        k: v
                        for k, v in run_isolated(name, args, module_check=True).items()
                        if k in ("module_message", "time_s", "peak_rss_mb", "message")
                    }
                )
            else:
                record["module_message"] = "not built (larger than --max-params)"
        elif row["fits"]:
            record = {**run_isolated(name, args), **base}
        else:
            record = {"name": name, "status": "skipped (size)", **base}
        results.append(record)
        save(results, env, args.output)
        print(f"{name:34s} {record['status']:15s} {record.get('time_s', '')}", flush=True)
    print(table({"results": results}), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
