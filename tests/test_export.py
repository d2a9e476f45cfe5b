"""bench export: a finetuned and a pretrained encoder as transformers folders (loaded strictly by transformers'
own classes, same outputs) and as official .pth files (back into this project strictly, official names)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers

from benchmark.cli import main
from benchmark.data.sampling import tube_mask
from benchmark.export import load
from benchmark.models.checkpoints import read_checkpoint
from tests.test_run import bench_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A micro pmg run (pretrain + finetune) whose stage folders are exported."""
    root = tmp_path_factory.mktemp("export")
    record = bench_run("pmg", root / "r", root / "w", "source.size=64")
    assert record["stages"]["pretrain"]["hash"] and record["stages"]["finetune"]["hash"]
    return root, record


def _folder(root, record, stage):
    return root / "w" / stage / record["stages"][stage]["hash"]


def _randomised(state: dict) -> dict:
    """The exported weights with every norm and bias moved off its init, so a wrong mapping cannot match."""
    g = torch.Generator().manual_seed(0)
    return {k: v + 0.02 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in state.items()}


def test_a_finetuned_classifier_loads_in_transformers_strictly_with_the_same_outputs(run, tmp_path, capsys):
    root, record = run
    import shutil
    folder = tmp_path / "stage"  # a copy whose weights are moved off the init, so a wrong mapping cannot match
    shutil.copytree(_folder(root, record, "finetune"), folder)
    _kind, model, clip, state = load(folder)
    state = _randomised(state)
    torch.save({"model": state}, folder / "final.pt")
    assert main(["export", str(folder), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    assert "config.json" in capsys.readouterr().out
    hf, info = transformers.VideoMAEForVideoClassification.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    from benchmark.models.build import classifier
    from benchmark.models.checkpoints import load_strict
    ours = classifier(model, clip, state["head.weight"].shape[0])
    load_strict(ours, state, "exported state")
    video = torch.randn(2, 3, clip.frames, clip.size, clip.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ours.eval()(video)
        got = hf.eval()(pixel_values=video.transpose(1, 2)).logits
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    assert hf.config.num_labels == 8 and hf.config.use_mean_pooling


def test_a_pretraining_loads_in_transformers_with_the_same_reconstruction(run, tmp_path):
    root, record = run
    folder = _folder(root, record, "pretrain")
    _kind, model, clip, state = load(folder)
    assert main(["export", str(folder), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    hf, info = transformers.VideoMAEForPreTraining.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not any(info.values()), info
    from benchmark.models.build import pretrain_model
    ours = pretrain_model(model, clip)
    ours.load_state_dict(state, strict=True)
    video = torch.randn(2, 3, clip.frames, clip.size, clip.size, generator=torch.Generator().manual_seed(2))
    mask = torch.from_numpy(np.stack([tube_mask(ours.grid, 0.75, np.random.default_rng(s)) for s in (0, 1)]))
    with torch.no_grad():
        expected = ours.eval()(video, mask)
        got = hf.eval()(pixel_values=video.transpose(1, 2), bool_masked_pos=mask).logits
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def test_official_export_reads_back_strictly_in_official_names(run, tmp_path):
    root, record = run
    for stage in ("pretrain", "finetune"):
        folder = _folder(root, record, stage)
        _kind, _model, _clip, state = load(folder)
        out = tmp_path / stage
        record_path = next((root / "r").rglob("pmg-*.json"))  # by the record: its stage under --work
        assert main(["export", str(record_path), "--stage", stage, "--work", str(root / "w"), "--format", "official",
                     "--out", str(out)]) == 0
        raw = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
        assert set(raw) == {"model"} and set(raw["model"]) == set(state)
        back = read_checkpoint(out / "checkpoint.pth")
        assert all(torch.equal(back[k], state[k]) for k in state)
        names = set(state)
        if stage == "pretrain":  # the names of MCG-NJU's PretrainVisionTransformer
            assert {"encoder.patch_embed.proj.weight", "encoder.blocks.0.attn.qkv.weight", "mask_token",
                    "encoder.blocks.0.attn.q_bias", "encoder_to_decoder.weight", "decoder.head.weight"} <= names
        else:  # ... and of its VisionTransformer classifier with mean pooling
            assert {"patch_embed.proj.weight", "blocks.0.mlp.fc1.weight", "fc_norm.weight", "head.weight"} <= names
        meta = json.loads((out / "exported_from.json").read_text())
        assert meta["stage"] == stage and meta["format"] == "official"


@pytest.mark.parametrize("args,message", [
    (["nope"], "export target nope does not exist"),
    (["{tmp}"], "is not a finished stage folder"),
    (["{tmp}/rec.json"], "is not a result record"),
])
def test_bad_targets_are_one_line(tmp_path, capsys, args, message):
    (tmp_path / "rec.json").write_text("{}")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["export", *args, "--format", "hf", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and not (tmp_path / "out").exists()


def test_an_existing_output_folder_is_refused(run, tmp_path, capsys):
    root, record = run
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep me")
    code = main(["export", str(_folder(root, record, "pretrain")), "--format", "official", "--out",
                 str(tmp_path / "out")])
    assert code == 2 and "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "out" / "x").read_text() == "keep me"
