"""The model organism: a small CLIP trained on a synthetic world whose concepts are known.

This file is the one place for the organism's name and tag (the plugin that makes it the
default model, the shipped assets and the CLI all read them from here); it imports nothing.
The core never imports this package: :data:`sith.organism.plugin.ENTRY` declares the
organism as a model plugin, which :mod:`sith.plugins` finds (no import needed).
"""

ORGANISM_NAME = "sith-organism"
ORGANISM_TAG = "v1"
#: Every shipped organism (assets ``organism-{tag}.*``); ``ORGANISM_TAG`` is the default.
ORGANISM_TAGS = ("v1",)
#: The packaged pools by name: the default dictionary, and that of an organism of world v2.
POOL, POOL_V2 = "organism", "organism-v2"
#: The default pool of an organism trained on each world.
POOL_OF_WORLD = {"v1": POOL, "v2": POOL_V2}

__all__ = ["ORGANISM_NAME", "ORGANISM_TAG", "ORGANISM_TAGS", "POOL", "POOL_OF_WORLD", "POOL_V2"]
