"""The throughput benchmark's table: machine line, ratios, stage times; drawn into benchmarks/README.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

README = Path(__file__).parent / "README.md"
BEGIN, END = "<!-- throughput:begin -->", "<!-- throughput:end -->"


def forward_share(stages: dict[str, float]) -> float:
    """The forward pass's share of the command's main loop (load swings cancel out of it)."""
    main = sum(stages[k] for k in ("wait", "transfer", "forward", "reduce"))
    return round(stages["forward"] / main, 3) if main else 0.0


def machine(device: str) -> dict[str, Any]:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")),
               platform.processor())
    return {"platform": platform.platform(), "cpu": cpu, "cpus": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "device": device,
            "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m['torch_threads']} torch threads), device {m['device']}"
        f"{' (' + m['gpu'] + ')' if m['gpu'] else ''}, torch {m['torch']}; load average (1 min) "
        f"{result['loadavg_1min']['start']} at the start, {result['loadavg_1min']['end']} at the end "
        "(the CPU is shared: compare within a row). Photos "
        f"{result['settings']['photo'][0]}×{result['settings']['photo'][1]} JPEG q90; precision "
        f"{result['settings']['precision']} (images), {result['settings']['text_precision']} (text).",
        "",
        "| model | images | (a) tower img/s (batch) | (b) `image-mean` steady / with start-up img/s | "
        "(b)/(a) steady | forward share of (b) | bounded by | concepts | (c) tower concepts/s | "
        "`encode-dictionary` steady / with start-up | ratio steady | bounded by |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in result["models"]:
        i, t = r["image"], r["text"]
        lines.append(
            f"| {r['model']} | {i['command']['images']} | "
            f"{i['limit']['images_per_s']} ({i['limit']['best_batch']}) "
            f"| {i['command']['images_per_s_steady']} / {i['command']['images_per_s_with_startup']} "
            f"| **{i['ratio_steady']}** | {forward_share(i['command']['stage_seconds'])} "
            f"| {i['bound']} | {t['limit']['concepts']} "
            f"| {t['limit']['sorted']['concepts_per_s']} | {t['command']['concepts_per_s_steady']} / "
            f"{t['command']['concepts_per_s_with_startup']} | **{t['ratio_steady']}** | {t['bound']} |")
    lines += ["", "Per-stage time alone, ms per image (one core; forward: the tower at its best batch, all "
              "cores) and per concept:", "",
              "| model | read | decode | resize+crop | collate | transfer+normalise | forward | "
              "tokenise | text forward (sorted / pool order) | draft option: img/s, cosine to default mean |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["models"]:
        s, t, d = r["image"]["stage_ms_per_image_alone"], r["text"]["limit"], r["image"]["draft_option"]
        draft = (f"{d['images_per_s_steady']}, {d['mean_difference_from_default']['cosine']:.6f}"
                 if "note" not in d else "same pixels at this size")
        lines.append(
            f"| {r['model']} | {s['read']} | {s['decode']} | {s['resize']} | {s['collate']} "
            f"| {s['transfer']} "
            f"| {s['forward']} | {t['sorted']['tokenise_ms_per_concept']} | "
            f"{t['sorted']['forward_ms_per_concept']} / {t['pool_order']['forward_ms_per_concept']} | "
            f"{draft} |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    body = README.read_text()
    if BEGIN in body and END in body:
        head, rest = body.split(BEGIN, 1)
        body = head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1]
    else:
        body = body.rstrip() + f"\n\n{BEGIN}\n{text}\n{END}\n"
    README.write_text(body)
