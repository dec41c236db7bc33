"""sith — data-free, weight-space interpretability of CLIP (see METHOD.md)."""

__version__ = "0.1.0"
