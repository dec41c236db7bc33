"""The organism's edit experiments — ``sith experiment spurious|nsfw|classification`` in one go.

The experiments select by judging the explanations and print every control beside the edit
(docs/experiments.md). This wrapper runs the three commands with the settings of
``experiments/README.md``:

    python experiments/edit_organism/run.py                      # -> DATA_DIR/models/.../experiments/NAME
    python experiments/edit_organism/run.py experiments/results  # regenerate the committed results

Further arguments go to every command (e.g. ``--data-dir D``).
"""

from __future__ import annotations

import sys

from sith.cli import main

SETTINGS = ["--seeds", "3", "--n", "200", "--draws", "5"]

if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else None
    extra = sys.argv[2:] if root else sys.argv[1:]
    for name in ("spurious", "nsfw", "classification"):
        out = ["--output-dir", f"{root}/{name}"] if root else []
        code = main(["experiment", name, *SETTINGS, *out, *extra])
        if code:
            raise SystemExit(code)
