"""Aligning the text posterior q_t = N(mu_t, sigma_t^2) with the CF posterior q_cf (protocol 4).

Every function returns one value per row (user); the TEARS loss takes their mean.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_w2(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """Squared 2-Wasserstein distance between diagonal Gaussians, closed form:
    ||mu1 - mu2||^2 + ||sigma1 - sigma2||^2 with sigma = exp(logvar / 2).

    (The authors' code used the CF mean where the CF standard deviation belongs; we do not.)
    """
    sigma1, sigma2 = torch.exp(0.5 * logvar1), torch.exp(0.5 * logvar2)
    return (mu1 - mu2).pow(2).sum(dim=-1) + (sigma1 - sigma2).pow(2).sum(dim=-1)


def gaussian_kl(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    """KL(N(mu1, var1) || N(mu2, var2)) for diagonal Gaussians, per row."""
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).pow(2)) / logvar2.exp() - 1).sum(dim=-1)


def symmetric_kl(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    """The symmetric (Jeffreys) divergence halved: (KL(p||q) + KL(q||p)) / 2, the `kl` ablation."""
    return 0.5 * (gaussian_kl(mu1, logvar1, mu2, logvar2) + gaussian_kl(mu2, logvar2, mu1, logvar1))


def info_nce(mu1, logvar1, mu2, logvar2, temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE between text and CF means of the same batch: each user's pair is the positive,
    the other users' CF means are the negatives (cosine similarity, symmetric)."""
    a, b = F.normalize(mu1, dim=-1), F.normalize(mu2, dim=-1)
    logits = a @ b.T / temperature
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels, reduction="none") + F.cross_entropy(logits.T, labels, reduction="none"))


def no_alignment(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    return torch.zeros(mu1.shape[0], device=mu1.device)


ALIGNMENTS = {
    "ot": gaussian_w2,
    "none": no_alignment,
    "kl": symmetric_kl,
    "contrastive": info_nce,
}
