"""Zero-shot classifiers from class names (the CLIP paper's prompt ensembling).

For class ``c`` and templates ``T`` (default: open_clip's ``OPENAI_IMAGENET_TEMPLATES``, the
80 templates of the CLIP paper): ``w_c = normalize(mean_{τ∈T} normalize(encode(τ(c))))``.
An image's logits are the cosines ``normalize(image_emb) · w_cᵀ``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from sith.errors import SithError

Template = Callable[[str], str] | str


def default_templates() -> tuple[Template, ...]:
    """open_clip's ``OPENAI_IMAGENET_TEMPLATES`` (80 callables)."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(OPENAI_IMAGENET_TEMPLATES)


def fill(template: Template, name: str) -> str:
    """A template applied to a class name (a callable, or a string with ``{}``)."""
    return template(name) if callable(template) else str(template).format(name)


def unit(x: Tensor) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def zero_shot_weights(
    class_names: Sequence[str],
    encode_text: Callable[[list[str]], Tensor],
    *,
    templates: Sequence[Template] | None = None,
    batch_size: int = 1024,
) -> Tensor:
    """``(C, e)`` unit class embeddings, each the normalised mean of its normalised prompts."""
    if len(class_names) == 0:
        raise SithError("no class names for the zero-shot classifier")
    templates = default_templates() if templates is None else tuple(templates)
    if not templates:
        raise SithError("no prompt templates for the zero-shot classifier")
    prompts = [fill(t, c) for c in class_names for t in templates]
    emb = torch.cat(
        [
            torch.as_tensor(encode_text(prompts[i : i + batch_size])).float().cpu()
            for i in range(0, len(prompts), batch_size)
        ]
    )
    per_class = unit(emb).reshape(len(class_names), len(templates), -1).mean(dim=1)
    return unit(per_class)


def zero_shot_logits(image_emb: Tensor, class_weights: Tensor) -> Tensor:
    """``(n, C)`` cosines between images ``(n, e)`` and unit class embeddings ``(C, e)``."""
    return unit(torch.as_tensor(image_emb).float()) @ class_weights.T


def zero_shot_predict(image_emb: Tensor, class_weights: Tensor) -> Tensor:
    """``(n,)`` int64 argmax class."""
    return zero_shot_logits(image_emb, class_weights).argmax(dim=1)


def accuracy(pred: Tensor, labels: Tensor) -> float:
    """Fraction of ``pred == labels``."""
    pred, labels = torch.as_tensor(pred), torch.as_tensor(labels)
    if pred.shape != labels.shape or pred.numel() == 0:
        raise SithError(
            f"accuracy needs equal, non-empty shapes; got {tuple(pred.shape)} and {tuple(labels.shape)}"
        )
    return int((pred == labels).sum()) / pred.numel()
