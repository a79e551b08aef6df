"""The torch modules of the `dann` classifier. Importing this module imports torch.

The network follows Ganin et al., "Domain-Adversarial Training of Neural Networks"
(JMLR 2016): a feature extractor feeds a label head directly and a domain head
through a gradient-reversal layer. Minimising both losses therefore trains the
domain head to recognise the source dataset while pushing the features to hide it.
"""

from __future__ import annotations

import torch
from torch import nn


class GradientReversal(torch.autograd.Function):
    """Identity in the forward pass that multiplies the gradient by -lambda in the backward pass."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, reversal_weight: float) -> torch.Tensor:
        ctx.reversal_weight = reversal_weight
        return features.view_as(features)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.reversal_weight * gradient, None


class DANNNetwork(nn.Module):
    """Feature-extractor MLP with a label head and, when `n_domains` >= 2, a domain head.

    The buffers `mean` and `scale` (n_features,) standardise the input inside the
    network, so the state_dict alone restores scoring.
    """

    def __init__(self, n_features: int, hidden: tuple[int, ...], n_domains: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        layers: list[nn.Module] = []
        width = n_features
        for hidden_width in hidden:
            layers += [nn.Linear(width, hidden_width), nn.ReLU()]
            width = hidden_width
        self.features = nn.Sequential(*layers)
        self.label_head = nn.Linear(width, 1)
        self.domain_head = None
        if n_domains >= 2:
            self.domain_head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_domains))

    def forward(self, x: torch.Tensor, reversal_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return label logits (batch,) and domain logits (batch, n_domains), or None without a domain head."""
        features = self.features((x - self.mean) / self.scale)
        label_logits = self.label_head(features).squeeze(-1)
        if self.domain_head is None:
            return label_logits, None
        return label_logits, self.domain_head(GradientReversal.apply(features, reversal_weight))
