"""MultVAE and MultDAE (Liang et al., "Variational Autoencoders for Collaborative Filtering", 2018).

Encoder: Linear(I, hidden) tanh, Linear(hidden, 2 x latent) -> (mu, logvar); decoder:
Linear(latent, hidden) tanh, Linear(hidden, I) -> logits. The input row (rating values,
L2-normalised) goes through dropout 0.5 in training. Loss: multinomial NLL + beta KL, with Liang et
al.'s schedule beta = min(beta_cap, updates / total_anneal_steps), applied by the trainer, updates
counted over the whole run (never reset per epoch). Defaults: beta_cap 0.2 and 2,000 steps (Liang
et al. used 200,000 on ML-20M's 116k users): beta grows for 400 updates, about 36 epochs on
ml-1m-positives at batch 500, then stays at 0.2.

MultDAE: the same shapes, deterministic: the code is tanh(Linear(hidden, latent)) (Liang's DAE puts
tanh on every layer but the last), no KL, loss = NLL + lam * (sum of squared weights, biases
excluded). Default lam 2e-5 = Liang et al.'s: their vae_cf code builds MultDAE with
lam = 0.01 / batch_size (batch 500) and adds 2 * tf l2_regularizer(lam), whose l2 is halved
(sum w^2 / 2), so each squared weight is weighted 0.01 / 500. A plain 0.01 (the paper's number
without the division) over-regularises: test NDCG@20 on ml-1m-positives falls from 0.407 to 0.386.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from tears_bench.models.layers import Rows, SparseLinear, input_dropout, liang_init, normalize_rows
from tears_bench.models.losses import multinomial_nll, standard_normal_kl, weight_l2
from tears_bench.models.shard_noise import normal_like

# MultDAE has no variance; `encode` reports this log-variance (sigma ~ 4.5e-5), i.e. a point mass.
DETERMINISTIC_LOGVAR = -20.0


class MultVAE(nn.Module):
    def __init__(self, n_items: int, hidden: int = 600, latent: int = 400, dropout: float = 0.5, lam: float = 0.0):
        super().__init__()
        self.n_items, self.latent_dim, self.dropout, self.lam = n_items, latent, dropout, lam
        self.encoder_in = SparseLinear(n_items, hidden)
        self.encoder_out = nn.Linear(hidden, 2 * latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, n_items))
        liang_init(self)

    def _hidden(self, x: Rows) -> torch.Tensor:
        x = input_dropout(normalize_rows(x), self.dropout, self.training)
        return torch.tanh(self.encoder_in(x))

    def encode(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder_out(self._hidden(x)).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + normal_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar

    def loss(self, x_input: Rows, target: torch.Tensor, anneal: float) -> tuple[torch.Tensor, dict]:
        logits, mu, logvar = self(x_input)
        nll = multinomial_nll(logits, target)
        kl = standard_normal_kl(mu, logvar)
        loss = nll + anneal * kl
        if self.lam:
            loss = loss + self.lam * weight_l2(self)
        return loss, {"nll": nll.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def score(self, x: Rows) -> torch.Tensor:
        """Logits for ranking: z = mu (call in eval mode)."""
        return self.decode(self.encode(x)[0])


class MultDAE(nn.Module):
    def __init__(self, n_items: int, hidden: int = 600, latent: int = 400, dropout: float = 0.5, lam: float = 2e-5):
        super().__init__()
        self.n_items, self.latent_dim, self.dropout, self.lam = n_items, latent, dropout, lam
        self.encoder_in = SparseLinear(n_items, hidden)
        self.encoder_out = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, n_items))
        liang_init(self)

    def encode(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        x = input_dropout(normalize_rows(x), self.dropout, self.training)
        code = torch.tanh(self.encoder_out(torch.tanh(self.encoder_in(x))))
        return code, torch.full_like(code, DETERMINISTIC_LOGVAR)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: Rows) -> torch.Tensor:
        return self.decode(self.encode(x)[0])

    def loss(self, x_input: Rows, target: torch.Tensor, anneal: float = 0.0) -> tuple[torch.Tensor, dict]:
        nll = multinomial_nll(self(x_input), target)
        reg = weight_l2(self)
        return nll + self.lam * reg, {"nll": nll.detach(), "l2": reg.detach()}

    @torch.no_grad()
    def score(self, x: Rows) -> torch.Tensor:
        return self(x)
