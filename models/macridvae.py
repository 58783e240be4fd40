"""MacridVAE (Ma et al., "Learning Disentangled Representations for Recommendation", NeurIPS 2019),
following the authors' code.

K concept prototypes and one embedding per item (dimension d, both L2-normalised). Each item is
assigned to concepts by softmax(cos(item, prototype) / tau) -- a Gumbel-softmax sample (temperature
1, one sample per batch) in training, the softmax itself in eval mode (deterministic; with tau 0.1
it is close to one-hot). Concept k sees the user's row masked by its items' assignment, encodes it
(Linear(I, hidden) tanh Linear(hidden, 2d), shared by the concepts) into an L2-normalised mean and
a log-variance; the decoder scores item i as log sum_k c_ik exp(cos(z_k, item_i) / tau).
Prior standard deviation `std` 0.075 and the KL as in the authors' code; beta annealed by the
trainer as for MultVAE.

For TEARS the K concept latents are flattened: `encode` returns [B, K*d]; defaults K = 2, d = 200,
so that K*d = 400, the latent size of every other VAE (hidden 400 as in the TEARS authors' code).
`encode`'s logvar is the log-variance of the distribution the model samples z from
(log-variance of the head + 2 log std).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tears_bench.models.layers import Rows, SparseLinear, input_dropout, liang_init, normalize_rows, scale_columns, xavier_
from tears_bench.models.losses import multinomial_nll
from tears_bench.models.shard_noise import normal_like


class MacridVAE(nn.Module):
    def __init__(self, n_items: int, kfac: int = 2, dfac: int = 200, hidden: int = 400, dropout: float = 0.5,
                 tau: float = 0.1, std: float = 0.075, nogb: bool = False):
        super().__init__()
        self.n_items, self.kfac, self.dfac, self.latent_dim = n_items, kfac, dfac, kfac * dfac
        self.dropout, self.tau, self.std, self.nogb = dropout, tau, std, nogb
        self.items = nn.Parameter(torch.empty(n_items, dfac))
        self.prototypes = nn.Parameter(torch.empty(kfac, dfac))
        xavier_(self.items, n_items, dfac)
        xavier_(self.prototypes, kfac, dfac)
        self.encoder_in = SparseLinear(n_items, hidden)
        self.encoder_out = nn.Linear(hidden, 2 * dfac)
        liang_init(self)

    def concepts(self) -> torch.Tensor:
        """[I, K] soft assignment of items to concepts."""
        items, prototypes = F.normalize(self.items, dim=1), F.normalize(self.prototypes, dim=1)
        logits = items @ prototypes.T / self.tau
        if self.training and not self.nogb:
            return F.gumbel_softmax(logits, tau=1.0, hard=False, dim=1)
        return logits.softmax(dim=1)

    def _encode(self, x: Rows, cates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log-variance of the head) [B, K, d]; mu is L2-normalised per concept."""
        mus, lnvars = [], []
        for k in range(self.kfac):
            x_k = input_dropout(normalize_rows(scale_columns(x, cates[:, k])), self.dropout, self.training)
            h = self.encoder_out(torch.tanh(self.encoder_in(x_k)))
            mus.append(F.normalize(h[:, : self.dfac], dim=1))
            lnvars.append(-h[:, self.dfac:])
        return torch.stack(mus, 1), torch.stack(lnvars, 1)

    def encode(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        mu, lnvar = self._encode(x, self.concepts())
        return mu.flatten(1), (lnvar + 2 * math.log(self.std)).flatten(1)

    def decode(self, z: torch.Tensor, cates: torch.Tensor | None = None) -> torch.Tensor:
        cates = self.concepts() if cates is None else cates
        z = F.normalize(z.view(len(z), self.kfac, self.dfac), dim=-1) / self.tau
        items_t = F.normalize(self.items, dim=1).T
        log_cates = cates.clamp_min(1e-30).log()
        # log sum_k c_ik exp(cos(z_k, item_i) / tau), one fused product and one logaddexp per concept
        logits = [torch.addmm(log_cates[:, k], z[:, k], items_t) for k in range(self.kfac)]
        return functools.reduce(torch.logaddexp, logits)

    def forward(self, x: Rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cates = self.concepts()
        mu, lnvar = self._encode(x, cates)
        z = mu + normal_like(mu) * self.std * torch.exp(0.5 * lnvar) if self.training else mu
        return self.decode(z.flatten(1), cates), mu, lnvar

    def loss(self, x_input: Rows, target: torch.Tensor, anneal: float) -> tuple[torch.Tensor, dict]:
        logits, mu, lnvar = self(x_input)
        nll = multinomial_nll(logits, target)
        # The authors' KL: mu lies on the unit sphere, so its square is a constant and dropped.
        kl = (0.5 * (-lnvar + lnvar.exp() - 1)).sum(dim=(1, 2)).mean()
        return nll + anneal * kl, {"nll": nll.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def score(self, x: Rows) -> torch.Tensor:
        cates = self.concepts()
        return self.decode(self._encode(x, cates)[0].flatten(1), cates)
