"""Losses shared by the CF VAEs and TEARS."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def multinomial_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multinomial negative log-likelihood (Liang et al. 2018): mean over the batch of
    -sum_i target_i * log_softmax(logits)_i. `target` is dense [B, I] (binary in this project)."""
    return -(F.log_softmax(logits, dim=-1) * target).sum(dim=-1).mean()


def standard_normal_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over dimensions, mean over the batch."""
    return (0.5 * (-logvar + logvar.exp() + mu.square() - 1)).sum(dim=-1).mean()


def weight_l2(module: torch.nn.Module) -> torch.Tensor:
    """Sum of squared entries of every weight matrix (not biases), Liang et al.'s regulariser."""
    return sum(p.square().sum() for name, p in module.named_parameters()
               if p.requires_grad and p.dim() > 1 and name.endswith("weight"))
