"""The frozen-encoder probes' own arithmetic: DINO's weighted k-NN vote and V-JEPA's attentive pooler."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.stages.attentive_probe import AttentiveProbeConfig, build_probe
from benchmark.stages.knn import knn_predict


def dino_knn(train, labels, test, classes, k, t):
    """facebookresearch/dino eval_knn.py knn_classifier, written out: one-hot labels of the top-k, weighted."""
    sim = test @ train.T
    top, idx = sim.topk(k, dim=1)
    one_hot = F.one_hot(labels[idx], classes).float()
    return (one_hot * (top / t).exp()[..., None]).sum(1)


def test_knn_vote_matches_dino():
    g = torch.Generator().manual_seed(0)
    train = F.normalize(torch.randn(200, 16, generator=g), dim=1)
    test = F.normalize(torch.randn(30, 16, generator=g), dim=1)
    labels = torch.randint(0, 5, (200,), generator=g)
    torch.testing.assert_close(knn_predict(train, labels, test, 5, 20, 0.07), dino_knn(train, labels, test, 5, 20,
                                                                                       0.07))


def test_knn_separates_clusters_and_weighs_the_nearest():
    centres = F.normalize(torch.eye(4, 8), dim=1)
    g = torch.Generator().manual_seed(1)
    train = F.normalize(centres.repeat(10, 1) + 0.05 * torch.randn(40, 8, generator=g), dim=1)
    labels = torch.arange(4).repeat(10)
    test = F.normalize(centres + 0.05 * torch.randn(4, 8, generator=g), dim=1)
    assert knn_predict(train, labels, test, 4, 20, 0.07).argmax(1).tolist() == [0, 1, 2, 3]
    # one very close neighbour of class 1 outvotes two far ones of class 0 at a low temperature
    bank, lab = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.6, -0.8]]), dim=1), torch.tensor([1, 0, 0])
    assert knn_predict(bank, lab, torch.tensor([[1.0, 0.0]]), 2, 3, 0.07).argmax().item() == 1


def test_attentive_pooler_is_order_free_and_learns_which_token_matters():
    torch.manual_seed(0)
    cfg = AttentiveProbeConfig()
    probe = build_probe(32, 4, 3, cfg)
    assert not hasattr(probe.xattn, "proj")  # V-JEPA's cross-attention applies no output projection
    assert 0.01 < probe.query.std() < 0.03  # trunc_normal_(std=0.02) truncated at +-2 (absolute), as V-JEPA
    tokens = torch.randn(2, 10, 32)
    torch.testing.assert_close(probe(tokens), probe(tokens[:, torch.randperm(10)]))  # pooling ignores order
    # the class is written in one random token of 12 noise tokens: attention pooling finds it
    opt = torch.optim.AdamW(probe.parameters(), lr=3e-3)
    for _ in range(300):
        y = torch.randint(0, 3, (32,))
        x = torch.randn(32, 12, 32)
        x[torch.arange(32), torch.randint(0, 12, (32,)), :3] += 6 * F.one_hot(y, 3).float()
        loss = F.cross_entropy(probe(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    y = torch.randint(0, 3, (256,))
    x = torch.randn(256, 12, 32)
    x[torch.arange(256), torch.randint(0, 12, (256,)), :3] += 6 * F.one_hot(y, 3).float()
    assert (probe(x).argmax(1) == y).float().mean() > 0.9
