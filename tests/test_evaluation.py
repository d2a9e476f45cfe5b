"""The evaluation suite end to end: OOD records, low-data curves, linear probe; and the low-data subsets."""

import numpy as np
import pytest
import torch

from benchmark.errors import BenchError
from benchmark.evaluate.lowdata import class_orders, points, subset
from benchmark.stages.base import load_protocol
from tests.test_run import bench_run, final_weights


def test_lowdata_subsets_are_balanced_nested_and_deterministic():
    labels = [i % 5 for i in range(5 * 20)] + [4] * 7  # 5 classes, the last one larger
    orders = class_orders(labels, 5, subset_seed=3)
    sizes = [1, 2, 5, 10]
    subsets = [subset(orders, per_class=k) for k in sizes]
    for k, s in zip(sizes, subsets, strict=True):
        counts = np.bincount([labels[i] for i in s], minlength=5)
        assert (counts == k).all()  # balanced
    for small, large in zip(subsets, subsets[1:], strict=False):
        assert set(small) < set(large)  # nested
    assert subset(class_orders(labels, 5, 3), per_class=5) == subsets[2]  # deterministic
    assert subset(class_orders(labels, 5, 4), per_class=5) != subsets[2]  # the seed matters
    frac = subset(orders, fraction=0.1)
    assert np.bincount([labels[i] for i in frac]).tolist() == [2, 2, 2, 2, 3]  # round(0.1 n_c), per class
    assert set(subset(orders, fraction=0.05)) <= set(frac)
    assert subset(orders, per_class=100) == sorted(range(len(labels)))  # capped at the class size
    assert points([5, 1], [0.5]) == [
        {"per_class": 1, "fraction": None}, {"per_class": 5, "fraction": None}, {"per_class": None, "fraction": 0.5}]
    with pytest.raises(BenchError, match="lowdata.per_class must be >= 1"):
        load_protocol("smoke", ["lowdata.per_class=[0]"])


def test_ood_evaluation_records_accuracy_and_robustness_per_perturbation(tmp_path):
    rec = bench_run("scratch", tmp_path / "r", tmp_path / "w", "evaluate.perturbations=[jpeg, freeze, translate]",
                    "evaluate.severities=[1, 5]")
    m = rec["metrics"]
    assert set(m["perturbed"]) == {"jpeg", "freeze", "translate"}
    assert set(m["perturbed"]["jpeg"]) == {"1", "5"}
    for by_sev in m["perturbed"].values():
        for cell in by_sev.values():
            assert 0 <= cell["top1"] <= 100
            if m["top1"]:
                assert cell["relative_robustness"] == pytest.approx(1 - (m["top1"] - cell["top1"]) / m["top1"],
                                                                    abs=1e-6)
            assert cell["absolute_robustness"] == pytest.approx(1 - (m["top1"] - cell["top1"]) / 100, abs=1e-6)
    assert "higher is more robust" in m["robustness"]["relative"]
    # the same finetuned model and clean numbers as a run without perturbations (evaluation is not in its hash)
    clean = bench_run("scratch", tmp_path / "r2", tmp_path / "w")
    assert clean["finetune"]["cached"] and clean["metrics"]["top1"] == m["top1"]


def test_lowdata_curve_in_one_run_with_its_subset_seeds(tmp_path):
    rec = bench_run("scratch", tmp_path / "r", tmp_path / "w", "lowdata.per_class=[1, 2]",
                    "lowdata.subset_seeds=[0, 1]", "lowdata.steps=3")
    curve = rec["metrics"]["lowdata"]
    assert [(c["subset_seed"], c["per_class"], c["train_videos"]) for c in curve] == [
        (0, 1, 8), (0, 2, 16), (1, 1, 8), (1, 2, 16)]  # 8 classes in the embedded task
    assert all(c["finetune_steps"] == 3 and 0 <= c["top1"] <= 100 for c in curve)
    assert rec["config"]["lowdata"]["subset_seeds"] == [0, 1]


def test_linear_probe_trains_only_the_head(tmp_path):
    rec = bench_run("natural", tmp_path / "r", tmp_path / "w", "finetune.mode=linear", "finetune.optimizer=sgd",
                    "finetune.base_lr=3.2", "finetune.layer_decay=1.0")
    assert rec["config"]["finetune"]["mode"] == "linear"
    pre, ft = final_weights(tmp_path / "w", "pretrain"), final_weights(tmp_path / "w", "finetune")
    for k, v in ft.items():
        if k.startswith("blocks.") or k.startswith("patch_embed."):
            assert torch.equal(v, pre["encoder." + k]), k  # the encoder is frozen
    assert "head.0.running_mean" in ft and "head.0.weight" not in ft  # BatchNorm without affine
    assert ft["head.1.weight"].abs().max() > 1e-3  # the head learned (it starts at scale 1e-3 x 0.02)
