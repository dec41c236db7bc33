"""Run the ``sith`` command under ``torchrun`` (gloo, CPU) or alone, as a user would."""

from __future__ import annotations

import os
import signal
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
    proc = subprocess.Popen(launcher + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and every rank it started
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
