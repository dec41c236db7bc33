"""The organism's edit experiments — now ``sith experiment spurious|nsfw|classification``.

This script used to select components by the alignment rule (cosine between a singular
vector and a concept), which never reads the explanations. The experiments now select by
judging the explanations and print every control beside the edit (docs/experiments.md).
This wrapper runs the three commands with the settings of ``experiments/README.md``:

    python experiments/edit_organism/run.py  # writes experiments/results/{spurious,nsfw,classification}/
"""

from __future__ import annotations

import sys

from sith.cli import main

SETTINGS = ["--seeds", "3", "--n", "200", "--draws", "5"]

if __name__ == "__main__":
    extra = sys.argv[1:]
    for name in ("spurious", "nsfw", "classification"):
        code = main(["experiment", name, *SETTINGS, *extra])
        if code:
            raise SystemExit(code)
