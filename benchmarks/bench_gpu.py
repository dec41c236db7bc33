"""The GPU paths, measured: solvers against the same run's matmul rate, and ViT-L-14 end to end.

Not a test (CI has no GPU; ``tests/decompose/test_solvers.py::test_cuda_matches_cpu`` is the
one that runs where CUDA is). Writes a JSON of numbers and prints a summary.

S   The solvers on ``--device``: 4096 random unit targets, e = 768, N random unit atoms
    (40,000 and 1,000,000), K = 5, comp-0.3 / omp / somp. Next to each wall time the roofline
    = the method's correlation-matmul FLOPs ÷ the fp32 matmul rate measured on the same device
    in the same run (TF32 as torch's default: off). Agreement: the same 256 targets solved on
    the CPU — the share with the same chosen set of atoms.
E   ViT-L-14 with random weights (``--pretrained none``: no download) through ``sith.api`` on
    ``--device``: an image mean over generated images, a dictionary encoded by the model's
    text tower (``--dictionary FILE``, e.g. SpLiCE's LAION vocabulary), all 24 layers decomposed
    with the seed's recipe, one search and one exact edit; then the last layer decomposed again
    with the solver on the CPU (same weights, targets and atoms): the share of identical
    explanations.

Usage::

    python benchmarks/bench_gpu.py --dictionary words.txt --out gpu.json             # a GPU node
    python benchmarks/bench_gpu.py --device cpu --quick --dictionary words.txt --out x.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_solvers import matmuls_per_solve, unit_rows  # noqa: E402

import sith.api as sith  # noqa: E402
from sith.decompose.solvers import solve  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(on: str, fn, *args, **kwargs):  # noqa: ANN001, ANN201
    """``(seconds, result)`` of one call, the device ``on`` synchronised on both sides."""
    sync(on)
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    sync(on)
    return time.perf_counter() - t, out


def matmul_rate(device: str, e: int, n: int) -> float:
    """Best fp32 rate (FLOP/s) of the solver-shaped product ``(4096, e)·(e, n)`` on ``device``."""
    a = torch.randn(4096, e, device=device)
    b = torch.randn(e, n, device=device)
    best = min(timed(device, torch.mm, a, b)[0] for _ in range(5))
    return 2.0 * 4096 * e * n / best


def same_sets(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of rows whose sets of chosen indices are equal (order ignored)."""
    sa, sb = a.sort(dim=-1).values, b.sort(dim=-1).values
    return float((sa == sb).all(dim=-1).float().mean())


def solver_rows(device: str, n_atoms: int, *, B: int = 4096, e: int = 768, k: int = 5) -> list[dict]:
    A = unit_rows(n_atoms, e, seed=1)
    Y = unit_rows(B, e, seed=2)
    Ad, Yd = A.to(device), Y.to(device)
    solve(Yd[:64], Ad, k, method="comp-0.3", device=device)  # warm-up
    rate = matmul_rate(device, e, min(n_atoms, 65536))
    rows = []
    for method in ("comp-0.3", "omp", "somp"):
        wall = min(timed(device, solve, Yd, Ad, k, method=method, device=device)[0] for _ in range(3))
        code = solve(Yd[:256], Ad, k, method=method, device=device)
        cpu = solve(Y[:256], A, k, method=method, device="cpu")
        flops = matmuls_per_solve(method, k) * 2.0 * B * n_atoms * e
        rows.append({
            "method": method, "atoms": n_atoms, "targets": B, "wall_s": wall,
            "matmul_rate_flops": rate, "roofline_s": flops / rate, "over_roofline": wall * rate / flops,
            "same_set_as_cpu": same_sets(code.indices.cpu(), cpu.indices),
            "max_weight_diff_vs_cpu": float((code.weights.cpu() - cpu.weights).abs().max()),
        })
        print(f"S {method:9s} N={n_atoms:>9,d}: {wall:.3f} s, {rows[-1]['over_roofline']:.2f}x roofline, "
              f"same set as CPU {rows[-1]['same_set_as_cpu']:.4f}", flush=True)
    del Ad, Yd
    return rows


def write_images(folder: Path, n: int) -> Path:
    """``n`` random 256-px JPEGs (seeded)."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        pixels = (torch.rand(256, 256, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)
    return folder


def end_to_end(device: str, model: str, dictionary: Path, n_images: int, layers: list[int] | None) -> dict:
    out: dict = {"model": model, "pretrained": "none", "dictionary": str(dictionary.name)}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        images = write_images(Path(tmp) / "images", n_images)
        common = {"data_dir": data, "device": device}
        out["load_s"], ws = timed(device, sith.workspace, model, "none", progress=False, **common)
        out["image_mean_s"], _ = timed(device, sith.image_mean, model, "none", images=images, progress=False,
                                       **common)
        out["images"] = n_images
        out["encode_s"], _ = timed(device, sith.encode_dictionary, model, "none", dictionary=str(dictionary),
                                   progress=False, **common)
        out["concepts"] = len(ws.encoded(str(dictionary)).concepts)
        out["decompose_s"], paths = timed(device, sith.decompose, model, "none", dictionary=str(dictionary),
                                          layers=layers, progress=False, **common)
        out["layers"] = len(paths)
        out["search_s"], hits = timed(device, sith.search, "water", model, "none", dictionary=str(dictionary),
                                      layers=layers, progress=False, **common)
        out["edit_s"], (_, ckpt, _) = timed(
            device, sith.edit, model, "none", components=[(ws.weights.n_layers - 1, 0, 0, 0.0)],
            output=Path(tmp) / "edited.safetensors", dictionary=str(dictionary), progress=False, **common)
        out["verify_max_error"] = max(sith.verify(model, "none", device=device))
        last = ws.weights.n_layers - 1
        config, decs = ws.decompositions(ws.request(dictionary=str(dictionary), layers=[last]))
        atoms = ws.atoms(config)
        ws.device = "cpu"
        out["cpu_layer_s"], cpu = timed("cpu", ws.decompose_one, config, last, atoms.cpu())
        ws.device = device
        gpu = decs[0]
        out["same_explanation_as_cpu"] = float((gpu.indices == cpu.indices).all(-1).float().mean())
        k = gpu.sparsity
        out["same_set_as_cpu"] = same_sets(gpu.indices.reshape(-1, k), cpu.indices.reshape(-1, k))
        out["max_weight_diff_vs_cpu"] = float((gpu.scores - cpu.scores).abs().max())
        out["gpu_layer_s_mean"] = out["decompose_s"] / max(1, out["layers"])
    print("E " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in out.items()),
          flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dictionary", type=Path, required=True, help="a concept list, one per line")
    ap.add_argument("--model", default="ViT-L-14")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test of this script)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    res: dict = {
        "torch": torch.__version__, "python": platform.python_version(), "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor(),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
    }
    sizes = [2000] if args.quick else [40_000, 1_000_000]
    targets = 256 if args.quick else 4096
    res["solvers"] = [row for n in sizes for row in solver_rows(args.device, n, B=targets)]
    res["end_to_end"] = end_to_end(args.device, args.model, args.dictionary, 16 if args.quick else 512,
                                   [0, 1] if args.quick else list(range(24)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
