"""VideoMAE against the Hugging Face implementation (numerics parity) and the official naming (strict loads)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.data.sampling import tube_mask
from benchmark.errors import BenchError
from benchmark.models.checkpoints import encoder_state, hf_to_official, load_strict, read_checkpoint
from benchmark.models.videomae import (
    VideoMAEClassifier,
    VideoMAEPretrain,
    pretrain_targets,
    sincos_table,
    token_grid,
)

transformers = pytest.importorskip("transformers")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def hf_config(**kw):
    # the `tiny` size: 192 x 4, 3 heads; decoder 96 x 4, 3 heads
    return transformers.VideoMAEConfig(image_size=64, num_frames=8, hidden_size=192, num_hidden_layers=4,
                                       num_attention_heads=3, intermediate_size=768, decoder_hidden_size=96,
                                       decoder_num_hidden_layers=4, decoder_num_attention_heads=3,
                                       decoder_intermediate_size=384, **kw)


def randomize(model):
    """HF initialises biases and norms to 0/1; random values make a wrong mapping visible."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") else 0.0))


def masks(batch, grid, ratio=0.75):
    return torch.from_numpy(np.stack([tube_mask(grid, ratio, np.random.default_rng(i)) for i in range(batch)]))


def test_pretraining_matches_hugging_face():
    torch.manual_seed(0)
    hf = transformers.VideoMAEForPreTraining(hf_config(use_mean_pooling=False)).eval()
    randomize(hf)
    ours = VideoMAEPretrain("tiny", frames=8, image_size=64).eval()
    load_strict(ours, hf_to_official(hf.state_dict()), "HF state dict")
    video = torch.randn(2, 3, 8, 64, 64)
    mask = masks(2, ours.grid)
    with torch.no_grad():
        ref = hf(video.transpose(1, 2), bool_masked_pos=mask)  # HF takes (B, T, C, H, W)
        pred = ours(video, mask)
        loss = F.mse_loss(pred, pretrain_targets(video, mask, MEAN, STD, 16, 2))
    assert pred.shape == ref.logits.shape == (2, 48, 1536)
    torch.testing.assert_close(pred, ref.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(loss, ref.loss, atol=1e-5, rtol=0)


def test_classifier_matches_hugging_face():
    torch.manual_seed(0)
    hf = transformers.VideoMAEForVideoClassification(hf_config(num_labels=5)).eval()
    randomize(hf)
    ours = VideoMAEClassifier("tiny", num_classes=5, frames=8, image_size=64).eval()
    load_strict(ours, hf_to_official(hf.state_dict()), "HF state dict")
    video = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(video), hf(video.transpose(1, 2)).logits, atol=1e-4, rtol=0)


def test_hugging_face_4x_names_with_q_bias_v_bias():
    """Hub checkpoints saved by transformers 4.x name the biases attention.attention.q_bias / v_bias."""
    hf = transformers.VideoMAEForVideoClassification(hf_config(num_labels=5))
    randomize(hf)
    old = {}
    for k, v in hf.state_dict().items():
        k = k.replace("attention.attention.query.bias", "attention.attention.q_bias")
        k = k.replace("attention.attention.value.bias", "attention.attention.v_bias")
        old[k] = v
    assert any(k.endswith("q_bias") for k in old)
    ours = VideoMAEClassifier("tiny", num_classes=5, frames=8, image_size=64)
    load_strict(ours, hf_to_official(old), "HF 4.x state dict")
    torch.testing.assert_close(ours.blocks[3].attn.v_bias, hf.videomae.encoder.layer[3].attention.attention.value.bias)


def test_official_names_and_no_k_bias():
    sd = VideoMAEPretrain("tiny", 8, 64).state_dict()
    for key in ["encoder.patch_embed.proj.weight", "encoder.blocks.0.attn.qkv.weight", "encoder.blocks.0.attn.q_bias",
                "encoder.blocks.0.attn.v_bias", "encoder.norm.weight", "decoder.blocks.3.mlp.fc2.bias",
                "decoder.head.weight", "encoder_to_decoder.weight", "mask_token"]:
        assert key in sd, key
    assert "encoder_to_decoder.bias" not in sd and "encoder.blocks.0.attn.qkv.bias" not in sd
    assert not any("pos_embed" in k for k in sd)  # fixed tables are not in the state dict, as in the original
    assert sd["decoder.head.weight"].shape == (2 * 16 * 16 * 3, 96)
    cls = VideoMAEClassifier("tiny", 10, 8, 64).state_dict()
    assert {"fc_norm.weight", "head.weight", "blocks.3.attn.q_bias"} <= cls.keys()
    assert not any(k.startswith("norm.") for k in cls)  # mean pooling: no final norm, fc_norm instead


def test_official_checkpoint_file_loads_strictly_and_errors_name_keys(tmp_path):
    model = VideoMAEPretrain("tiny", 8, 64)
    torch.save({"model": model.state_dict()}, tmp_path / "official.pth")
    state = read_checkpoint(tmp_path / "official.pth")
    fresh = VideoMAEPretrain("tiny", 8, 64)
    load_strict(fresh, state, "official checkpoint")
    assert torch.equal(fresh.encoder.blocks[0].attn.q_bias, model.encoder.blocks[0].attn.q_bias)
    broken = dict(state)
    broken.pop("encoder.blocks.0.attn.q_bias")
    broken["encoder.blocks.0.attn.k_bias"] = torch.zeros(192)
    with pytest.raises(BenchError, match="missing keys: encoder.blocks.0.attn.q_bias.*unexpected keys: "
                                         "encoder.blocks.0.attn.k_bias"):
        load_strict(fresh, broken, "official checkpoint")
    with pytest.raises(BenchError, match="shape mismatches"):
        load_strict(VideoMAEPretrain("small", 8, 64), state, "official checkpoint")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="could not be read"):
        read_checkpoint(tmp_path / "junk.pth")


def test_finetune_init_takes_the_encoder_without_its_norm():
    pre = VideoMAEPretrain("tiny", 8, 64)
    enc = encoder_state(pre.state_dict())
    assert "blocks.0.attn.qkv.weight" in enc and "norm.weight" not in enc
    assert not any(k.startswith(("decoder", "mask_token", "encoder_to_decoder")) for k in enc)
    cls = VideoMAEClassifier("tiny", 4, 8, 64)
    load_strict(cls, enc, "encoder", allow_missing=("fc_norm.", "head."))
    assert torch.equal(cls.blocks[3].mlp.fc1.weight, pre.encoder.blocks[3].mlp.fc1.weight)


def test_tube_mask_repeats_one_spatial_mask_with_fixed_count():
    grid = (4, 14, 14)
    for seed in range(5):
        m = tube_mask(grid, 0.9, np.random.default_rng(seed)).reshape(grid)
        assert m[0].sum() == int(0.9 * 196) == 176
        assert (m == m[0]).all()  # the same spatial mask in every temporal slot
    a, b = (tube_mask(grid, 0.75, np.random.default_rng(s)) for s in (0, 1))
    assert not np.array_equal(a, b)
    assert token_grid(16, 224, 16, 2) == (8, 14, 14)
    with pytest.raises(BenchError, match="multiple of model.tubelet_size"):
        token_grid(7, 224, 16, 2)


def test_encoder_sees_visible_tokens_only():
    model = VideoMAEPretrain("tiny", 8, 64).eval()
    mask = masks(2, model.grid, 0.75)  # 16 of 64 tokens visible
    seen = {}

    def record(module, inputs, output):
        seen["shape"] = inputs[0].shape
    model.encoder.blocks[0].register_forward_hook(record)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 64, 64), mask)
    assert seen["shape"] == (2, 16, 192)
    assert out.shape == (2, 48, 1536)


def test_targets_are_per_patch_per_channel_normalised_pixels():
    torch.manual_seed(0)
    video = torch.randn(1, 3, 4, 32, 32)
    mask = torch.ones(1, 2 * 2 * 2, dtype=torch.bool)
    targets = pretrain_targets(video, mask, MEAN, STD, 16, 2)
    assert targets.shape == (1, 8, 2 * 16 * 16 * 3)
    # token 3 = (t=0, h=1, w=1): frames 0-1, rows 16-31, cols 16-31; its values ordered (t, y, x, c)
    pixels = video[0] * torch.tensor(STD).view(3, 1, 1, 1) + torch.tensor(MEAN).view(3, 1, 1, 1)
    patch = pixels[:, 0:2, 16:32, 16:32].permute(1, 2, 3, 0).reshape(-1, 3)
    expected = (patch - patch.mean(0)) / (patch.std(0, unbiased=True) + 1e-6)
    torch.testing.assert_close(targets[0, 3].view(-1, 3), expected, atol=1e-5, rtol=1e-5)


def test_sincos_table_matches_the_original_formula():
    table = sincos_table(10, 8)[0]
    pos, j = 7, 5
    angle = pos / 10000 ** (2 * (j // 2) / 8)
    assert table[pos, j].item() == pytest.approx(np.cos(angle), abs=1e-7)
    assert table[pos, 4].item() == pytest.approx(np.sin(pos / 10000 ** (4 / 8)), abs=1e-7)


def test_classifier_head_init_scale_and_layer_decay_groups():
    from benchmark.stages.base import load_protocol
    from benchmark.train.optim import make_optimizer
    torch.manual_seed(0)
    model = VideoMAEClassifier("tiny", 10, 8, 64)
    assert model.head.weight.std().item() == pytest.approx(0.02 * 0.001, rel=0.1)  # trunc_normal(.02) x .001
    opt = make_optimizer(model, load_protocol("smoke").finetune, 256, layer_decay=0.75)
    scale = {}
    for group in opt.param_groups:
        for p in group["params"]:
            scale[p.data_ptr()] = (group["lr_scale"], group["weight_decay"])
    # VideoMAE: scale = decay ** (depth + 1 - layer_id), patch_embed 0, block i -> i + 1, head depth + 1
    assert scale[model.patch_embed.proj.weight.data_ptr()][0] == pytest.approx(0.75 ** 5)
    assert scale[model.blocks[0].mlp.fc1.weight.data_ptr()][0] == pytest.approx(0.75 ** 4)
    assert scale[model.blocks[3].mlp.fc1.weight.data_ptr()][0] == pytest.approx(0.75)
    assert scale[model.head.weight.data_ptr()][0] == pytest.approx(1.0)
    assert scale[model.blocks[0].attn.q_bias.data_ptr()][1] == 0.0  # no weight decay on 1-D params
    assert scale[model.blocks[0].attn.qkv.weight.data_ptr()][1] == 0.05


def test_frozen_encoder_reads_pretraining_and_classifier_weights():
    from benchmark.config import ClipConfig, ModelConfig
    from benchmark.models.build import frozen_encoder
    model, clip = ModelConfig(size="tiny"), ClipConfig(frames=8, size=32)
    pre = VideoMAEPretrain("tiny", 8, 32, 16, 2)
    x = torch.randn(2, 3, 8, 32, 32)
    enc = frozen_encoder(model, clip, pre.state_dict())
    with torch.no_grad():
        full = pre.encoder(x, torch.zeros(2, 16, dtype=torch.bool))
        assert torch.equal(enc(x), full) and not any(p.requires_grad for p in enc.parameters())
    clf = VideoMAEClassifier("tiny", 5, 8, 32)
    enc = frozen_encoder(model, clip, clf.state_dict())  # a classifier has no final token norm: identity init
    with torch.no_grad():
        tokens = clf.patch_embed(x) + clf.pos_embed
        for blk in clf.blocks:
            tokens = blk(tokens)
        torch.testing.assert_close(enc(x), torch.nn.functional.layer_norm(tokens, (192,), eps=1e-6))


def test_pretraining_init_matches_the_official_code():
    """encoder_to_decoder keeps PyTorch's default Linear init (U(+-1/sqrt(fan_in)), no Xavier); the mask token is
    N(0, 0.02) truncated at +-0.02."""
    torch.manual_seed(0)
    m = VideoMAEPretrain("base", 16, 224, 16, 2)
    w = m.encoder_to_decoder.weight
    bound = 1 / 768 ** 0.5
    assert w.abs().max() <= bound and abs(w.std().item() - bound / 3 ** 0.5) < 0.002
    assert m.mask_token.abs().max() <= 0.02 and m.mask_token.std() > 0.008


def test_finetuning_keeps_a_head_that_fits_and_replaces_one_that_does_not():
    from benchmark.train.finetune import init_from
    done = VideoMAEClassifier("tiny", 5, 8, 32)
    with torch.no_grad():
        done.head.weight.normal_()
    same, other = VideoMAEClassifier("tiny", 5, 8, 32), VideoMAEClassifier("tiny", 7, 8, 32)
    assert init_from(same, done.state_dict(), "ckpt") == "checkpoint"
    assert torch.equal(same.head.weight, done.head.weight)  # run_class_finetuning.py keeps a head that fits
    before = other.head.weight.clone()
    assert init_from(other, done.state_dict(), "ckpt") == "new" and torch.equal(other.head.weight, before)
    pre = VideoMAEPretrain("tiny", 8, 32, 16, 2)
    assert init_from(VideoMAEClassifier("tiny", 5, 8, 32), pre.state_dict(), "ckpt") == "new"


def save_model_file(path, state):
    """What the official utils.save_model writes: model, optimizer, epoch, scaler and the run's Namespace."""
    import argparse
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))])
    torch.save({"model": state, "optimizer": opt.state_dict(), "epoch": 799, "scaler": {"scale": 65536.0,
                "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 0},
                "args": argparse.Namespace(model="pretrain_videomae_base_patch16_224", lr=1.5e-4, mask_ratio=0.9,
                                           opt_betas=[0.9, 0.95], data_path="/data/k400/train.csv")}, path)


class Payload:
    def __reduce__(self):
        return (print, ("this pickle runs code when loaded",))


def test_official_save_model_files_load_and_hostile_pickles_are_refused(tmp_path):
    state = VideoMAEPretrain("tiny", 8, 32, 16, 2).state_dict()
    save_model_file(tmp_path / "checkpoint-799.pth", state)
    loaded = read_checkpoint(tmp_path / "checkpoint-799.pth")
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    torch.save({"model": state, "extra": Payload()}, tmp_path / "hostile.pth")
    with pytest.raises(BenchError) as err:
        read_checkpoint(tmp_path / "hostile.pth")
    assert "holds an object of type print" in str(err.value) and "\n" not in str(err.value)
