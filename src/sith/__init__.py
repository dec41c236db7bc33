"""sith — data-free, weight-space interpretability of CLIP (see docs/method.md)."""

__version__ = "0.1.0"
