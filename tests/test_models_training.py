"""The CF baselines: the interface TEARS builds on, training (loss down, better than popularity),
checkpoint round trip, the trained-model cache, KL annealing, RecVAE's alternation, early stopping."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import tears_bench.models.trainer as trainer
from tears_bench.models.evaluate import evaluate, model_score_fn
from tears_bench.models.layers import SparseRows
from tears_bench.models.registry import MODELS, build_model, resolve_config
from tears_bench.data.split import build_split, model_input
from tears_bench.data.synthetic import generate

VAES = ["multvae", "multdae", "recvae", "macridvae"]
# Small sizes and a few epochs: seconds on one core.
SMALL = {
    "multvae": dict(hidden=200, latent=64, batch_size=64, total_anneal_steps=200, epochs=20),
    "multdae": dict(hidden=200, latent=64, batch_size=64, epochs=12),
    "recvae": dict(hidden=200, latent=64, batch_size=64, lr=1e-3, epochs=10),
    "macridvae": dict(hidden=128, dfac=32, batch_size=64, total_anneal_steps=200, epochs=20),
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def split():
    return build_split(generate(users=600, items=300, seed=1))


@pytest.mark.parametrize("name", VAES)
def test_vae_interface(name, split):
    torch.manual_seed(0)
    model = build_model(name, split.n_items, resolve_config(name, SMALL[name])).eval()
    x_sparse = SparseRows.from_scipy(model_input(split.val_input[:9]))
    x_dense = x_sparse.to_dense()
    mu, logvar = model.encode(x_dense)
    assert mu.shape == logvar.shape == (9, model.latent_dim)
    assert torch.isfinite(logvar).all()
    logits = model.decode(mu)
    assert logits.shape == (9, split.n_items)
    # eval mode is deterministic, z = mu, and sparse and dense inputs agree
    assert torch.equal(model.encode(x_dense)[0], mu)
    assert torch.allclose(model.score(x_sparse), logits, atol=1e-5)
    assert torch.allclose(model.encode(x_sparse)[0], mu, atol=1e-6)
    model.train()
    loss, parts = model.loss(x_sparse, torch.from_numpy(split.val_target[:9].toarray()), 0.1)
    assert loss.dim() == 0 and torch.isfinite(loss) and "nll" in parts


def test_macridvae_latent_is_k_concepts_flattened():
    model = build_model("macridvae", 50, resolve_config("macridvae")).eval()
    assert (model.kfac, model.dfac, model.latent_dim) == (2, 200, 400)
    mu, _ = model.encode(torch.rand(3, 50))
    assert torch.allclose(mu.view(3, 2, 200).norm(dim=-1), torch.ones(3, 2), atol=1e-5)


def test_default_latents_are_400():
    for name in ("multvae", "multdae", "recvae", "macridvae"):
        assert build_model(name, 30, resolve_config(name)).latent_dim == 400


@pytest.mark.parametrize("name", VAES)
def test_trains_beats_pop_round_trips_and_is_cached(name, split, monkeypatch):
    pop = trainer.get_trained(split, "pop", verbose=False)
    trained = trainer.get_trained(split, name, config=SMALL[name], seed=0, device="cpu", verbose=False)
    assert not trained.from_cache
    history = trained.metrics["training"]["history"]
    nll = [epoch["nll"] for epoch in history]
    assert np.mean(nll[-2:]) < 0.97 * np.mean(nll[:2]), nll  # the loss goes down
    assert trained.metrics["val"]["ndcg@50"] > pop.metrics["val"]["ndcg@50"] + 0.05
    assert trained.metrics["test"]["ndcg@20"] > pop.metrics["test"]["ndcg@20"]
    assert trained.metrics["training"]["train_seconds"] < 60

    # the checkpoint round-trips: identical scores
    loaded = trainer.load_trained(trained.path, split)
    x = SparseRows.from_scipy(model_input(split.test_input))
    assert torch.equal(loaded.model.score(x), trained.model.eval().score(x))

    # a second identical call reuses the cache: no training
    monkeypatch.setattr(trainer, "train_model", lambda *a, **k: pytest.fail("retrained instead of reusing"))
    again = trainer.get_trained(split, name, config=SMALL[name], seed=0, device="cpu", verbose=False)
    assert again.from_cache and again.key == trained.key and again.metrics["test"] == trained.metrics["test"]
    val = evaluate(model_score_fn(again.model), model_input(split.val_input), split.val_target)
    assert val["ndcg@50"] == pytest.approx(trained.metrics["val"]["ndcg@50"], abs=1e-9)
    # ... and another seed or config does not
    assert trainer.cache_key(split, name, resolve_config(name, SMALL[name]), 1) != trained.key


class AnnealRecorder(torch.nn.Module):
    """A stand-in model that records the KL weight it is given."""

    def __init__(self, n_items):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(n_items))
        self.anneals = []

    def loss(self, x, target, anneal):
        self.anneals.append(anneal)
        return (self.w - 1).square().sum(), {"nll": 0.0}

    def score(self, x):
        return self.w.detach().expand(x.shape[0], -1).clone()


def test_kl_annealing_runs_over_the_whole_training_not_per_epoch(split):
    model = AnnealRecorder(split.n_items)
    config = dict(epochs=3, patience=10, batch_size=100, beta_cap=0.2, total_anneal_steps=100)
    result = trainer.fit(model, split, config, verbose=False)
    per_epoch = int(np.ceil(split.train_input.shape[0] / 100))
    assert result.updates == 3 * per_epoch == len(model.anneals)
    expected = [min(0.2, step / 100) for step in range(3 * per_epoch)]
    assert model.anneals == pytest.approx(expected)
    assert model.anneals[per_epoch] > model.anneals[per_epoch - 1]  # no reset at the epoch boundary


def test_early_stopping_keeps_the_best_epoch(split):
    model = AnnealRecorder(split.n_items)
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    snapshots = []

    def evaluate_fn(m):
        snapshots.append(m.w.detach().clone())
        return next(scores)

    result = trainer.fit(model, split, dict(epochs=50, patience=3, batch_size=100), evaluate_fn=evaluate_fn,
                         verbose=False)
    assert (result.best_epoch, result.epochs, result.best_score) == (1, 4, 0.5)
    assert torch.equal(model.w, snapshots[0]) and not torch.equal(model.w, snapshots[-1])


def test_recvae_alternates_and_refreshes_its_prior(split, monkeypatch):
    torch.manual_seed(0)
    model = build_model("recvae", split.n_items, resolve_config("recvae", SMALL["recvae"]))
    decoder_start = model.decoder.weight.detach().clone()
    encoder_start = model.encoder.fc_in.weight.detach().clone()
    seen = {}
    refresh = model.update_prior

    def update_prior():
        seen["decoder"] = model.decoder.weight.detach().clone()
        seen["encoder"] = model.encoder.fc_in.weight.detach().clone()
        refresh()

    monkeypatch.setattr(model, "update_prior", update_prior)
    trainer.fit(model, split, dict(SMALL["recvae"], epochs=1), verbose=False)
    # encoder phase: only the encoder moved; then the prior took the encoder; decoder phase: only the decoder
    assert torch.equal(seen["decoder"], decoder_start)
    assert not torch.equal(seen["encoder"], encoder_start)
    assert torch.equal(model.encoder.fc_in.weight, seen["encoder"])
    assert not torch.equal(model.decoder.weight, decoder_start)
    old = model.prior.encoder_old.state_dict()
    assert all(torch.equal(v, old[k]) for k, v in model.encoder.state_dict().items())
    assert not any(p.requires_grad for p in model.prior.parameters())


def test_registry_lists_every_baseline_with_a_description():
    for name in ("pop", "ease", "multdae", "multvae", "recvae", "macridvae"):
        assert name in MODELS and MODELS[name].description
