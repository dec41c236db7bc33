"""Startup time of the ``sith`` command against ``import torch`` (issue 9; not a timed test).

Measures, each as a fresh interpreter (median of ``--repeats``, wall clock):

- ``import_torch``: ``python -c "import torch"`` — the floor of any command that touches a tensor;
- ``sith_help``: ``python -m sith.cli --help``;
- ``sith_show``: ``python -m sith.cli show FILE`` on a small decomposition file (written
  first, in the real format, by :func:`tests.explore.synthetic.synthetic_decomposition`).

The target is ``sith_show ≤ 1.5 × import_torch``. Also records which heavy libraries
``sith show`` imports (none of open_clip, transformers, matplotlib, torchvision, webdataset).

    python benchmarks/bench_startup.py      # writes benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.explore.synthetic
HEAVY = ("open_clip", "transformers", "matplotlib", "torchvision", "webdataset")


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one fresh interpreter takes to run ``argv`` (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median; default 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json",
                        help="results file (default benchmarks/results/startup.json)")
    args = parser.parse_args()

    from tests.explore.synthetic import synthetic_decomposition

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        dec = synthetic_decomposition(5, n_heads=12, rank=64).save(Path(tmp) / "layer-05.pt")
        commands = {
            "import_torch": [py, "-c", "import torch"],
            "sith_help": [py, "-m", "sith.cli", "--help"],
            "sith_show": [py, "-m", "sith.cli", "show", str(dec)],
        }
        for argv in commands.values():  # warm the file cache once
            wall(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved, so load changes hit every command alike
            for name, argv in commands.items():
                times[name].append(wall(argv, env))
        show = ["-q", "show", str(dec), "--output", str(Path(tmp) / "t.txt")]
        probe = (
            f"import sys, json; from sith.cli import main; main({show!r}); "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
        )
        loaded = json.loads(
            subprocess.run([py, "-c", probe], check=True, capture_output=True, text=True, env=env)
            .stdout.strip().splitlines()[-1]
        )
    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = median["sith_show"] / median["import_torch"]
    sentence = (
        f"`sith show FILE` starts in {median['sith_show']:.2f} s and `sith --help` in "
        f"{median['sith_help']:.2f} s, against {median['import_torch']:.2f} s for "
        '`python -c "import torch"` '

        f"({ratio:.2f}×; median of {args.repeats}, {platform.machine()}, {os.cpu_count()} cores, "
        "`python benchmarks/bench_startup.py`)."
    )
    result = {
        "repeats": args.repeats,
        "seconds": {name: [round(x, 3) for x in t] for name, t in times.items()},
        "median_s": {name: round(v, 3) for name, v in median.items()},
        "show_over_torch": round(ratio, 3),
        "target_show_over_torch": 1.5,
        "meets_target": ratio <= 1.5,
        "heavy_modules_imported_by_show": [m for m in HEAVY if m in loaded],
        "python": platform.python_version(),
        "readme_sentence": sentence,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_s"]), f"show/torch = {ratio:.2f}")
    print(sentence)


if __name__ == "__main__":
    main()
