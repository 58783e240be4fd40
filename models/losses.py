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


# How the TEARS loss terms are normalised (docs/protocol.md section 4, "Loss scales"):
#   "sum":     NLL summed over items, KL summed over latent dimensions (Liang et al.'s VAE losses);
#   "authors": NLL averaged over items and KL averaged over latent dimensions, as in the TEARS
#              authors' code, which makes the alignment term (summed over dimensions either way)
#              about |I| times stronger relative to reconstruction.
LOSS_SCALES = ("sum", "authors")


def loss_term_factors(loss_scale: str, n_items: int, latent_dim: int) -> tuple[float, float]:
    """(factor on the summed NLL, factor on the summed KL) for a loss scale of LOSS_SCALES."""
    if loss_scale == "sum":
        return 1.0, 1.0
    if loss_scale == "authors":
        return 1.0 / n_items, 1.0 / latent_dim
    raise ValueError(f"unknown loss scale {loss_scale!r}; known: {', '.join(LOSS_SCALES)}")
