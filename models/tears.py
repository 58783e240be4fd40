"""TEARS Base and TEARS-<VAE> (protocol.md section 4).

TEARS-<VAE>: a trained CF VAE's encoder is frozen (a frozen copy encodes the user's ratings into
q_cf); the summary goes through a text head (models.text_heads: the paper's bias-free linear head over
its pooled embedding, or learned queries over its sentence embeddings) to q_t = (mu_t, logvar_t); both
latents are decoded by the VAE's decoder, which is fine-tuned. Loss =
(NLL(mix at alpha 0.5) + NLL(text) + NLL(cf)) / 3 + beta KL(q_t || N(0, I)) + epsilon * align(q_t, q_cf).
TEARS Base: text only, with a fresh MultVAE-shaped decoder.

alpha is the weight of the TEXT latent everywhere: z = alpha * z_text + (1 - alpha) * z_cf.

Inference (`TearsRecommender`, `score_users`) lives here next to the network; training, selection
and caching are models.tears_trainer's.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from tears_bench.data.split import model_input
from tears_bench.errors import TearsBenchError
from tears_bench.metrics import scored_batches
from tears_bench.models.alignment import ALIGNMENTS
from tears_bench.models.losses import loss_term_factors, multinomial_nll
from tears_bench.models.shard_noise import normal_like
from tears_bench.models.text_heads import make_text_head


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, training: bool) -> torch.Tensor:
    if not training:
        return mu
    return mu + normal_like(mu) * torch.exp(0.5 * logvar)


def standard_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per row."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


class BaseDecoder(nn.Module):
    """TEARS Base's decoder: MultVAE-shaped, Linear(latent, hidden) tanh Linear(hidden, items)."""

    def __init__(self, latent_dim: int, hidden: int, n_items: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, n_items))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Tears(nn.Module):
    """The trainable part of TEARS: text head + decoder (+ the frozen CF encoder copy)."""

    def __init__(self, text_dim: int, n_items: int, cf: nn.Module | None = None, latent_dim: int = 400,
                 hidden: int = 600, align: str = "ot", epsilon: float = 0.5, beta: float = 0.2,
                 loss_scale: str = "sum", text_head: str = "linear", text_queries: int = 4):
        super().__init__()
        self.text_only = cf is None
        self.latent_dim = cf.latent_dim if cf is not None else latent_dim
        # "linear" reads one pooled vector per summary, "attention" its token states (models.text_heads).
        self.head = make_text_head(text_head, text_dim, 2 * self.latent_dim, text_queries)
        self.align, self.epsilon, self.beta = align, epsilon, beta
        self.loss_scale = loss_scale
        if cf is None:
            self.decoder = BaseDecoder(self.latent_dim, hidden, n_items)
            self.cf_encoder = None
        else:
            # Two copies: the frozen one only encodes (so fine-tuning parameters shared by encoder and
            # decoder, as in MacridVAE, never moves q_cf); the other only decodes and is fine-tuned.
            self.cf_encoder = copy.deepcopy(cf).eval()
            for parameter in self.cf_encoder.parameters():
                parameter.requires_grad_(False)
            self.decoder = copy.deepcopy(cf)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.cf_encoder is not None:
            self.cf_encoder.eval()  # frozen: no dropout, no stochastic encoding
        return self

    def text_posterior(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(embeddings).chunk(2, dim=-1)
        return mu, logvar

    @torch.no_grad()
    def cf_posterior(self, ratings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cf_encoder.encode(ratings)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z) if self.text_only else self.decoder.decode(z)

    def loss(self, embeddings: torch.Tensor, ratings: torch.Tensor | None, target: torch.Tensor,
             anneal: float = 1.0) -> tuple[torch.Tensor, dict]:
        """The training loss and its parts. `loss_scale` (models.losses.LOSS_SCALES) sets how NLL and
        KL are normalised; the alignment is summed over latent dimensions, mean over users, either way."""
        mu_t, logvar_t = self.text_posterior(embeddings)
        z_t = reparameterize(mu_t, logvar_t, self.training)
        nll_factor, kl_factor = loss_term_factors(self.loss_scale, target.shape[-1], mu_t.shape[-1])
        kl = standard_kl(mu_t, logvar_t).mean() * kl_factor
        beta = self.beta * anneal
        if self.text_only:
            nll = multinomial_nll(self.decode(z_t), target) * nll_factor
            return nll + beta * kl, {"nll": nll.item(), "kl": kl.item()}
        mu_cf, logvar_cf = self.cf_posterior(ratings)
        z_cf = reparameterize(mu_cf, logvar_cf, self.training)
        nll = (multinomial_nll(self.decode(0.5 * z_t + 0.5 * z_cf), target)
               + multinomial_nll(self.decode(z_t), target)
               + multinomial_nll(self.decode(z_cf), target)) / 3 * nll_factor
        alignment = ALIGNMENTS[self.align](mu_t, logvar_t, mu_cf, logvar_cf).mean()
        loss = nll + beta * kl + self.epsilon * alignment
        return loss, {"nll": nll.item(), "kl": kl.item(), "align": alignment.item()}

    @torch.no_grad()
    def scores(self, embeddings: torch.Tensor, ratings: torch.Tensor | None, alphas) -> torch.Tensor:
        """Logits [len(alphas), users, items] for every alpha, encoding the text once."""
        mu_t, _ = self.text_posterior(embeddings)
        if self.text_only:
            text_scores = self.decode(mu_t)
            return text_scores.unsqueeze(0).expand(len(alphas), *text_scores.shape)
        mu_cf, _ = self.cf_posterior(ratings)
        return torch.stack([self.decode(a * mu_t + (1 - a) * mu_cf) for a in alphas])


def alpha_key(alpha: float) -> str:
    """The key of an alpha in metrics and results ('0.5'): one decimal, so 0.5 and 0.50 are one alpha."""
    return f"{alpha:.1f}"


def dense(matrix, device) -> torch.Tensor:
    return torch.from_numpy(matrix.toarray()).to(device)


@torch.no_grad()
def score_users(net: Tears, embed: Callable[[np.ndarray], torch.Tensor], fold_in, alphas, device,
                batch_size: int = 1024) -> torch.Tensor:
    """Scores [len(alphas), users, items] on the CPU, fold-in items at -inf, in batches of users;
    `embed(rows)` gives the text embeddings of those rows (positions into `fold_in`)."""
    def score(x, rows):
        ratings = None if net.text_only else dense(model_input(x), device)
        return net.scores(embed(rows), ratings, alphas)

    n = fold_in.shape[0]
    batches = [np.arange(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    return torch.cat([scores.cpu() for _, scores in scored_batches(score, fold_in, batches)], dim=1)


class TearsRecommender:
    """A trained TEARS model as the tasks use it: latents, decoding and batched recommendation."""

    def __init__(self, name: str, net: Tears, encoder, device: torch.device, batch_size: int = 1024):
        self.name, self.net, self.encoder, self.device = name, net.eval(), encoder, device
        encoder.eval()  # no dropout (LoRA or the encoder's own) when recommending
        self.text_only = net.text_only
        self.batch_size = batch_size

    @torch.no_grad()
    def text_latent(self, summaries: list[str]) -> torch.Tensor:
        embeddings = self.encoder.encode(list(summaries)).to(self.device)
        return self.net.text_posterior(embeddings)[0]

    @torch.no_grad()
    def cf_latent(self, fold_in) -> torch.Tensor:
        if self.text_only:
            raise TearsBenchError(f"{self.name} has no CF latent (text only)")
        return self.net.cf_posterior(dense(model_input(fold_in), self.device))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z.to(self.device))

    def recommend(self, summaries: list[str], fold_in, alphas) -> torch.Tensor:
        """Scores [len(alphas), users, items], fold-in items at -inf; the text is encoded once."""
        summaries = list(summaries)
        if len(summaries) != fold_in.shape[0]:
            raise TearsBenchError(f"recommend: {len(summaries)} summaries for {fold_in.shape[0]} fold-in rows; "
                                  "pass one summary per user")
        return score_users(self.net, lambda rows: self.encoder.encode([summaries[r] for r in rows]).to(self.device),
                           fold_in, [float(a) for a in alphas], self.device, self.batch_size)
