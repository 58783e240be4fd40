import numpy as np
import pytest
import scipy.linalg
import torch

from tears_bench.models.alignment import gaussian_kl, gaussian_w2, info_nce, symmetric_kl


def general_w2(m1, c1, m2, c2):
    """W2^2 between Gaussians with full covariances: |m1-m2|^2 + Tr(C1 + C2 - 2 (C2^.5 C1 C2^.5)^.5)."""
    root2 = scipy.linalg.sqrtm(c2)
    cross = scipy.linalg.sqrtm(root2 @ c1 @ root2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * np.real(cross)))


def test_gaussian_w2_matches_the_general_formula():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    logvar1, logvar2 = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    got = gaussian_w2(*(torch.tensor(x) for x in (mu1, logvar1, mu2, logvar2))).numpy()
    assert got.shape == (5,)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # W2 is invariant to a common rotation
    for row in range(5):
        c1, c2 = np.diag(np.exp(logvar1[row])), np.diag(np.exp(logvar2[row]))
        assert got[row] == pytest.approx(general_w2(mu1[row], c1, mu2[row], c2), rel=1e-6)
        assert got[row] == pytest.approx(general_w2(rotation @ mu1[row], rotation @ c1 @ rotation.T,
                                                    rotation @ mu2[row], rotation @ c2 @ rotation.T), rel=1e-5)


def test_divergences_are_zero_on_identical_gaussians_and_kl_matches_torch():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(gaussian_w2(mu, logvar, mu, logvar), torch.zeros(4))
    assert torch.allclose(symmetric_kl(mu, logvar, mu, logvar), torch.zeros(4), atol=1e-6)
    mu2, logvar2 = torch.randn(4, 3), torch.randn(4, 3)
    p = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    q = torch.distributions.Normal(mu2, (0.5 * logvar2).exp())
    expected = torch.distributions.kl_divergence(p, q).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar, mu2, logvar2), expected, atol=1e-5)


def test_info_nce_prefers_matched_pairs():
    mu = torch.randn(8, 16)
    matched = info_nce(mu, None, mu, None).mean()
    shuffled = info_nce(mu, None, mu[torch.randperm(8)], None).mean()
    assert matched < shuffled
