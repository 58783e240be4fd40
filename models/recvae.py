"""RecVAE (Shenbin et al., "RecVAE: a New Variational Autoencoder for Top-N Recommendations with
Implicit Feedback", WSDM 2020), following the authors' code.

Encoder: five dense residual layers (swish, LayerNorm eps 0.1) over the L2-normalised input ->
(mu, logvar); decoder: Linear(latent, I). Composite prior: a mixture (weights 3/20, 3/4, 1/10) of
N(0, I), the posterior of the encoder as it was at the end of the previous epoch, and a wide
N(0, e^10 I). KL weight beta = gamma * |input| per user (gamma 0.005), estimated with one sample.
Training alternates: `enc_passes` passes over the data updating only the encoder (input dropout
0.5), then the prior's old encoder is refreshed, then `dec_passes` passes updating only the decoder
(no dropout). The trainer runs these through `training_phases()`. The KL weight is the model's own;
the trainer's `anneal` is ignored.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tears_bench.models.layers import Rows, SparseLinear, input_dropout, n_items_per_row, normalize_rows
from tears_bench.models.losses import multinomial_nll
from tears_bench.models.shard_noise import normal_like

MIXTURE_WEIGHTS = (3 / 20, 3 / 4, 1 / 10)
WIDE_LOGVAR = 10.0


def log_normal_pdf(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (logvar + math.log(2 * math.pi) + (x - mu).square() / logvar.exp())


class Encoder(nn.Module):
    def __init__(self, n_items: int, hidden: int, latent: int, eps: float = 0.1):
        super().__init__()
        self.fc_in = SparseLinear(n_items, hidden)
        self.fcs = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(4))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden, eps=eps) for _ in range(5))
        self.fc_mu = nn.Linear(hidden, latent)
        self.fc_logvar = nn.Linear(hidden, latent)

    def forward(self, x: Rows, dropout: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = input_dropout(normalize_rows(x), dropout, self.training)
        h = self.norms[0](F.silu(self.fc_in(x)))
        total = h  # h1 + ... + h_k, the dense residual connections
        for fc, norm in zip(self.fcs, self.norms[1:]):
            h = norm(F.silu(fc(h) + total))
            total = total + h
        return self.fc_mu(h), self.fc_logvar(h)


class CompositePrior(nn.Module):
    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder_old = copy.deepcopy(encoder).requires_grad_(False)
        self.log_weights = [math.log(w) for w in MIXTURE_WEIGHTS]

    def forward(self, x: Rows, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            post_mu, post_logvar = self.encoder_old(x, 0.0)
        zeros = torch.zeros_like(z)
        densities = [log_normal_pdf(z, zeros, zeros), log_normal_pdf(z, post_mu, post_logvar),
                     log_normal_pdf(z, zeros, zeros + WIDE_LOGVAR)]
        return torch.logsumexp(torch.stack([d + w for d, w in zip(densities, self.log_weights)], -1), -1)


class RecVAE(nn.Module):
    def __init__(self, n_items: int, hidden: int = 600, latent: int = 400, gamma: float = 0.005,
                 dropout: float = 0.5, enc_passes: int = 3, dec_passes: int = 1):
        super().__init__()
        self.n_items, self.latent_dim, self.gamma, self.dropout = n_items, latent, gamma, dropout
        self.enc_passes, self.dec_passes = enc_passes, dec_passes
        self.encoder = Encoder(n_items, hidden, latent)
        self.decoder = nn.Linear(latent, n_items)
        self.prior = CompositePrior(self.encoder)
        self.phase = "joint"  # 'encoder' | 'decoder' | 'joint': what the current update trains

    def update_prior(self) -> None:
        self.prior.encoder_old.load_state_dict(self.encoder.state_dict())

    def training_phases(self) -> list[dict]:
        """The alternating schedule of one epoch, for the trainer."""
        def enter(phase):
            return lambda: setattr(self, "phase", phase)
        return [
            dict(name="encoder", params=list(self.encoder.parameters()), passes=self.enc_passes,
                 before=enter("encoder"), after=self.update_prior),
            dict(name="decoder", params=list(self.decoder.parameters()), passes=self.dec_passes,
                 before=enter("decoder"), after=enter("joint")),
        ]

    def encode(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        dropout = self.dropout if self.phase != "decoder" else 0.0
        return self.encoder(x, dropout)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + normal_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar, z

    def loss(self, x_input: Rows, target: torch.Tensor, anneal: float = 0.0) -> tuple[torch.Tensor, dict]:
        logits, mu, logvar, z = self(x_input)
        nll = multinomial_nll(logits, target)
        if self.phase == "decoder":  # the KL does not depend on the decoder: skip the prior
            return nll, {"nll": nll.detach()}
        beta = self.gamma * n_items_per_row(x_input)
        kl = ((log_normal_pdf(z, mu, logvar) - self.prior(x_input, z)).sum(dim=-1) * beta).mean()
        return nll + kl, {"nll": nll.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def score(self, x: Rows) -> torch.Tensor:
        return self.decode(self.encoder(x, 0.0)[0])
