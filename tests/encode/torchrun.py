"""Run the ``sith`` command under ``torchrun`` (gloo, CPU) or alone, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def run_sith(
    args: list[str], *, nproc: int = 1, cwd: Path, timeout: float = 240,
    torchrun_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """``python -m sith ARGS`` (``nproc == 1``) or ``torchrun --nproc_per_node N -m sith ARGS``."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1", **(extra_env or {})}
    env.pop("WORLD_SIZE", None)
    launcher = [sys.executable, "-m", "sith"] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        *torchrun_args, "-m", "sith"]
    return subprocess.run(launcher + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
