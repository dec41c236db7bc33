"""Write the organism's concept pool ``src/sith/organism/assets/pool.txt``.

Pool = world vocabulary (factor values, synonyms, bird and unsafe words, habitats),
short phrases ("red circle", "duck on water", ...), and distractors: the most
frequent English words (wordfreq) of >= 4 letters that are not world words, from
rank 200 on (skipping function words), without profanity (``EXCLUDE``).
Run: python experiments/organism/make_pool.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from wordfreq import top_n_list

from sith.organism.world import FACTORS, SPURIOUS_CLASSES, UNSAFE_WORDS, vocabulary

N_DISTRACTORS = 400
# profanity and slurs are kept out of the shipped distractors (the world's own "unsafe"
# concept is the skull, with its own words)
EXCLUDE = frozenset(
    {
        "fuck",
        "fucking",
        "fucked",
        "fucker",
        "shit",
        "shitty",
        "bitch",
        "bitches",
        "damn",
        "damned",
        "dick",
        "cock",
        "pussy",
        "cunt",
        "whore",
        "slut",
        "porn",
        "sexy",
        "nigga",
        "nigger",
        "bastard",
        "asshole",
        "crap",
        "piss",
        "goddamn",
        "motherfucker",
        "retard",
        "retarded",
        "faggot",
        "hoes",
    }
)


def build_pool(n_distractors: int = N_DISTRACTORS) -> list[str]:
    words = vocabulary()
    phrases = [f"{c} {s}" for c in FACTORS["color"] for s in FACTORS["shape"]]
    phrases += [f"{z} {s}" for z in FACTORS["size"] for s in FACTORS["shape"]]
    phrases += [f"{b} on {h}" for b in SPURIOUS_CLASSES for h in ("water", "land")]
    phrases += [f"{w} symbol" for w in UNSAFE_WORDS]
    taken = {w.lower() for w in words + phrases}
    distract: list[str] = []
    for w in top_n_list("en", 5000)[200:]:
        if len(distract) >= n_distractors:
            break
        if w.isascii() and w.isalpha() and len(w) >= 4 and w not in taken and w not in EXCLUDE:
            distract.append(w)
            taken.add(w)
    return list(dict.fromkeys(words + phrases + distract))


if __name__ == "__main__":
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (Path(__file__).resolve().parents[2] / "src/sith/organism/assets/pool.txt")
    )
    pool = build_pool()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(pool) + "\n")
    print(f"wrote {len(pool)} concepts to {out}")
