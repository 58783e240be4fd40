"""Faithfulness to the reference code: MultDAE's L2 weight and the TEARS loss scales, by hand."""
from __future__ import annotations

import math

import pytest
import torch

from tears_bench.models.losses import loss_term_factors
from tears_bench.models.multvae import MultDAE, MultVAE
from tears_bench.models.registry import resolve_config
from tears_bench.models.tears import Tears
from tears_bench.models.tears_trainer import KEY_OMITTED_VALUES, _config, train_tears
from tears_bench.data import get_split
from tears_bench.errors import TearsBenchError
from tests.tiny_encoders import build_tiny_encoders


def fill(module: torch.nn.Module, weight: float, bias: float = 0.0) -> None:
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.fill_(weight if name.endswith("weight") else bias)


def test_multdae_default_l2_is_liangs_per_weight_penalty():
    # Liang et al.: lam = 0.01 / batch_size (500) and loss += 2 * lam * (sum w^2) / 2.
    lam = resolve_config("multdae")["lam"]
    assert lam == pytest.approx(0.01 / 500) and MultDAE(3).lam == lam
    model = MultDAE(3, hidden=2, latent=1, dropout=0.0).double().eval()  # float64: no cancellation
    fill(model, 0.5, bias=0.3)  # biases are not penalised
    x = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    loss, parts = model.loss(x, x)
    # Weights: 3x2 + 2x1 + 1x2 + 2x3 = 16 entries of 0.25.
    assert parts["l2"].item() == pytest.approx(16 * 0.25)
    assert (loss - parts["nll"]).item() == pytest.approx(2 * (0.01 / 500) * (16 * 0.25) / 2, rel=1e-5)
    assert (loss - parts["nll"]).item() == pytest.approx(8e-5, rel=1e-5)


# A tiny TEARS-MultVAE whose every quantity is set by hand: 4 items, 2 latent dimensions.
LOGITS = [math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)]
TARGET = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
NLL = (math.log(8) + 2 * math.log(8)) / 2  # -(log .5 + log .25) and -(2 log .125), batch mean
KL = 0.5 * 1.0 + 0.5 * (-math.log(4) + 4 - 1)  # q_t = N([1, 0], diag(1, 4)) against N(0, I)
W2 = 1.0 + (2.0 - 1.0) ** 2  # against q_cf = N(0, I): ||mu||^2 + ||sigma_t - 1||^2


def hand_tears(text_only: bool = False, loss_scale: str = "sum") -> Tears:
    cf = None
    if not text_only:
        cf = MultVAE(4, hidden=3, latent=2, dropout=0.0)
        fill(cf.encoder_out, 0.0)  # q_cf = N(0, I) for every user
        fill(cf.decoder[2], 0.0)
        with torch.no_grad():
            cf.decoder[2].bias.copy_(torch.tensor(LOGITS))  # every z decodes to LOGITS
    net = Tears(1, 4, cf=cf, latent_dim=2, hidden=3, epsilon=0.5, beta=0.2, loss_scale=loss_scale)
    if text_only:
        fill(net.decoder.net[2], 0.0)
        with torch.no_grad():
            net.decoder.net[2].bias.copy_(torch.tensor(LOGITS))
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[1.0], [0.0], [0.0], [math.log(4)]]))  # mu_t, logvar_t
    return net.eval()


@pytest.mark.parametrize("loss_scale, expected", [
    ("sum", NLL + 0.2 * KL + 0.5 * W2),
    # The authors' code: NLL averaged over the 4 items, KL over the 2 latent dimensions, W2 summed.
    ("authors", NLL / 4 + 0.2 * KL / 2 + 0.5 * W2),
])
def test_tears_loss_scales_by_hand(loss_scale, expected):
    net = hand_tears(loss_scale=loss_scale)
    embeddings = torch.ones(2, 1)
    ratings = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    loss, parts = net.loss(embeddings, ratings, TARGET, anneal=1.0)
    assert parts["align"] == pytest.approx(W2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    half, _ = net.loss(embeddings, ratings, TARGET, anneal=0.5)  # beta annealed, the rest unchanged
    assert half.item() == pytest.approx(expected - 0.5 * 0.2 * KL * (1 if loss_scale == "sum" else 0.5), rel=1e-6)


@pytest.mark.parametrize("loss_scale, expected", [("sum", NLL + 0.2 * KL), ("authors", NLL / 4 + 0.2 * KL / 2)])
def test_tears_base_loss_scales_by_hand(loss_scale, expected):
    loss, _ = hand_tears(text_only=True, loss_scale=loss_scale).loss(torch.ones(2, 1), None, TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_loss_scale_factors_and_bad_values():
    assert loss_term_factors("sum", 3706, 400) == (1.0, 1.0)
    assert loss_term_factors("authors", 3706, 400) == (1 / 3706, 1 / 400)
    with pytest.raises(TearsBenchError, match="loss_scale"):
        _config("tears-multvae", {"loss_scale": "mean"})


def test_loss_scale_default_and_cache_keys(tmp_path):
    encoder = build_tiny_encoders(tmp_path)["bert"]
    split = get_split("synthetic:users=120,items=80,seed=3")
    summaries = {u: "the user loves drama movies ." for u in range(len(split.user_ids))}
    config = {"encoder": encoder, "epochs": 1, "patience": 1, "batch_size": 64, "cf_config": {"epochs": 1}}
    default = train_tears(split, "tears-multvae", summaries, config=config, device="cpu", verbose=False)
    assert default.metrics["config"]["loss_scale"] == "authors"  # the default, see docs/decisions.md
    explicit = train_tears(split, "tears-multvae", summaries, config={**config, "loss_scale": "authors"},
                           device="cpu", verbose=False)
    assert explicit.from_cache and explicit.key == default.key
    summed = train_tears(split, "tears-multvae", summaries, config={**config, "loss_scale": "sum"},
                         device="cpu", verbose=False)
    assert not summed.from_cache and summed.key != default.key
    # "sum" reproduces the models trained before the option existed: it stays out of their key.
    assert KEY_OMITTED_VALUES["loss_scale"] == "sum"
