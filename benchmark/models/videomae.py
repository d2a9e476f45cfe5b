"""VideoMAE (Tong et al. 2022), faithful to the official implementation (MCG-NJU/VideoMAE).

Module and parameter names are the official ones, so an official state dict loads into these modules with
`strict=True`; `checkpoints.py` maps Hugging Face `transformers` names onto them.

What matches the official code (MCG-NJU/VideoMAE, modeling_pretrain.py and modeling_finetune.py):
- tubelet embedding: Conv3d with kernel = stride = (tubelet, patch, patch);
- fixed 1-D sinusoidal position tables (not parameters, not in the state dict), one for the encoder and one for
  the decoder;
- the pretraining encoder sees visible tokens only; the decoder input is [visible + pe_visible, mask + pe_masked]
  and only the last N_masked outputs are predicted;
- attention with q and v biases and no k bias, through F.scaled_dot_product_attention;
- LayerNorm eps 1e-6; decoder width/heads/depth per size; `encoder_to_decoder` without bias;
- classifier: mean pool -> fc_norm -> dropout -> head, head initialised at scale 0.001.

Shapes: videos are (B, C, T, H, W) float, normalised; token order is (t, h, w); masks are (B, N) bool with True
meaning masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.init import trunc_normal_

from benchmark.errors import BenchError

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


@dataclass(frozen=True)
class Size:
    embed_dim: int
    depth: int
    num_heads: int
    decoder_dim: int
    decoder_depth: int
    decoder_heads: int


# Decoder depth: 4 for S/B and 12 for L/H, as the official scripts use (the class default is 8).
# `tiny` is this project's CPU size, not an official VideoMAE model: ViT-Ti widths, 4 blocks. Deeper ViTs trained
# from scratch sit on a loss plateau for longer than a CPU smoke run lasts (on the embedded task, 700 finetuning
# steps of 16 clips: 4 blocks reach 53%, 6 blocks 17%, chance is 12.5%).
SIZES = {
    "tiny": Size(192, 4, 3, 96, 4, 3),
    "small": Size(384, 12, 6, 192, 4, 3),
    "base": Size(768, 12, 12, 384, 4, 6),
    "large": Size(1024, 24, 16, 512, 12, 8),
    "huge": Size(1280, 32, 16, 640, 12, 8),
}


def sincos_table(n_position: int, dim: int) -> torch.Tensor:
    """The official fixed sinusoid table, shape (1, n_position, dim); computed in float64 like the original."""
    pos = np.arange(n_position, dtype=np.float64)[:, None]
    j = np.arange(dim)[None, :]
    angle = pos / np.power(10000, 2 * (j // 2) / dim)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.from_numpy(table).float().unsqueeze(0)


class Attention(nn.Module):
    """Multi-head self-attention with q and v biases and a zero k bias (BEiT/VideoMAE convention)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False):
        B, N, C = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                           dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, C)))


class PatchEmbed(nn.Module):
    """(B, C, T, H, W) -> (B, T/t * H/p * W/p, D) with one Conv3d tubelet projection."""

    def __init__(self, patch_size: int, tubelet_size: int, embed_dim: int, in_chans: int = 3):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=(tubelet_size, patch_size, patch_size),
                              stride=(tubelet_size, patch_size, patch_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DropPath(nn.Module):
    """Stochastic depth per sample (as timm's drop_path and the official modeling_finetune.DropPath)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """The official modeling_finetune.Block without layer scale (init_values 0, as every VideoMAE script uses):
    x + drop_path(attn(norm1(x))), then x + drop_path(mlp(norm2(x))). Written here rather than taken from timm,
    whose import costs a second of start-up; the parameter names are the same (norm1, attn, norm2, mlp.fc1/fc2)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1, self.attn = LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.mlp = LayerNorm(dim), Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _blocks(dim: int, depth: int, heads: int, drop_path: float = 0.0) -> nn.ModuleList:
    rates = torch.linspace(0, drop_path, depth).tolist()
    return nn.ModuleList(Block(dim, heads, 4.0, r) for r in rates)


def token_grid(frames: int, size: int, patch_size: int, tubelet_size: int) -> tuple[int, int, int]:
    """(T', H', W') of the token grid; a clip geometry the tubelets do not tile is a user error."""
    if frames % tubelet_size or size % patch_size:
        raise BenchError(f"clip.frames ({frames}) must be a multiple of model.tubelet_size ({tubelet_size}) and "
                         f"clip.size ({size}) a multiple of model.patch_size ({patch_size})")
    return frames // tubelet_size, size // patch_size, size // patch_size


def _init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _init_trunc_normal(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """The pretraining encoder (official `PretrainVisionTransformerEncoder`): visible tokens in, features out."""

    def __init__(self, size: Size, num_patches: int, patch_size: int, tubelet_size: int):
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, tubelet_size, size.embed_dim)
        self.register_buffer("pos_embed", sincos_table(num_patches, size.embed_dim), persistent=False)
        self.blocks = _blocks(size.embed_dim, size.depth, size.num_heads)
        self.norm = LayerNorm(size.embed_dim)
        self.apply(_init_xavier)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T, H, W) -> the final-norm features (B, N_visible, D) of the tokens `mask` leaves visible (all
        of them when mask is None: the frozen features the probes read)."""
        x = self.patch_embed(x)
        x = x + self.pos_embed.to(x.dtype)
        if mask is not None:
            B, _, C = x.shape
            x = x[~mask].reshape(B, -1, C)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class Decoder(nn.Module):
    """The pretraining decoder (official `PretrainVisionTransformerDecoder`)."""

    def __init__(self, size: Size, depth: int, out_dim: int):
        super().__init__()
        self.blocks = _blocks(size.decoder_dim, depth, size.decoder_heads)
        self.norm = LayerNorm(size.decoder_dim)
        self.head = nn.Linear(size.decoder_dim, out_dim)
        self.apply(_init_xavier)

    def forward(self, x: torch.Tensor, return_token_num: int) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, -return_token_num:]))


class VideoMAEPretrain(nn.Module):
    """Masked autoencoder: forward(video, mask) -> predicted pixels of the masked tokens (B, N_mask, t*p*p*3)."""

    def __init__(self, size: str, frames: int, image_size: int, patch_size: int = 16, tubelet_size: int = 2,
                 decoder_depth: int | None = None):
        super().__init__()
        spec = SIZES[size]
        grid = token_grid(frames, image_size, patch_size, tubelet_size)
        self.grid, self.patch_size, self.tubelet_size = grid, patch_size, tubelet_size
        num_patches = grid[0] * grid[1] * grid[2]
        self.encoder = Encoder(spec, num_patches, patch_size, tubelet_size)
        self.decoder = Decoder(spec, decoder_depth or spec.decoder_depth, 3 * tubelet_size * patch_size ** 2)
        self.encoder_to_decoder = nn.Linear(spec.embed_dim, spec.decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, spec.decoder_dim))
        self.register_buffer("decoder_pos_embed", sincos_table(num_patches, spec.decoder_dim), persistent=False)
        # as modeling_pretrain.py: encoder_to_decoder keeps PyTorch's default Linear init (the Xavier init is applied
        # inside the encoder and the decoder only), and the mask token is drawn from N(0, 0.02) truncated at +-1
        # std (its trunc_normal_ wrapper passes a=-std, b=std)
        trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"mask_token"}

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        vis = self.encoder_to_decoder(self.encoder(x, mask))  # (B, N_vis, Dd)
        B, _, C = vis.shape
        pos = self.decoder_pos_embed.to(vis.dtype).expand(B, -1, -1)
        pos_vis = pos[~mask].reshape(B, -1, C)
        pos_mask = pos[mask].reshape(B, -1, C)
        full = torch.cat([vis + pos_vis, self.mask_token.to(vis.dtype) + pos_mask], dim=1)
        return self.decoder(full, pos_mask.shape[1])


def pretrain_targets(video: torch.Tensor, mask: torch.Tensor, mean, std, patch_size: int,
                     tubelet_size: int) -> torch.Tensor:
    """Official normalised-pixel targets of the masked tokens, (B, N_mask, t*p*p*3).

    Undo the input normalisation, then normalise every patch per channel over its t*p*p pixels with the unbiased
    std: (x - mean) / (std + 1e-6).
    """
    B, C, T, H, W = video.shape
    m = torch.as_tensor(mean, dtype=torch.float32, device=video.device).view(1, C, 1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=video.device).view(1, C, 1, 1, 1)
    x = video.float() * s + m
    t, p = tubelet_size, patch_size
    x = x.reshape(B, C, T // t, t, H // p, p, W // p, p)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(B, -1, t * p * p, C)  # b (t h w) (p0 p1 p2) c
    x = (x - x.mean(dim=-2, keepdim=True)) / (x.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    x = x.reshape(B, x.shape[1], -1)
    return x[mask].reshape(B, -1, x.shape[-1])


class VideoMAEClassifier(nn.Module):
    """Finetuning model (official `VisionTransformer` with mean pooling): forward(video) -> logits."""

    def __init__(self, size: str, num_classes: int, frames: int, image_size: int, patch_size: int = 16,
                 tubelet_size: int = 2, drop_path: float = 0.0, fc_dropout: float = 0.0,
                 init_scale: float = 0.001, linear_probe: bool = False):
        super().__init__()
        spec = SIZES[size]
        grid = token_grid(frames, image_size, patch_size, tubelet_size)
        self.num_layers = spec.depth
        self.patch_embed = PatchEmbed(patch_size, tubelet_size, spec.embed_dim)
        self.register_buffer("pos_embed", sincos_table(grid[0] * grid[1] * grid[2], spec.embed_dim),
                             persistent=False)
        self.blocks = _blocks(spec.embed_dim, spec.depth, spec.num_heads, drop_path)
        self.fc_norm = LayerNorm(spec.embed_dim)
        self.fc_dropout = nn.Dropout(fc_dropout)
        self.head = nn.Linear(spec.embed_dim, num_classes)
        self.apply(_init_trunc_normal)
        with torch.no_grad():
            self.head.weight.mul_(init_scale)
            self.head.bias.mul_(init_scale)
        if linear_probe:  # Yu et al.'s linear probe (after MAE): a BatchNorm without affine before the head
            self.head = nn.Sequential(nn.BatchNorm1d(spec.embed_dim, affine=False, eps=1e-6), self.head)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Layer ids for timm's layer-wise lr decay (the tests compare the harness's own grouping with timm's):
        patch_embed 0, block i -> i + 1, fc_norm/head last."""
        return {"stem": r"^patch_embed", "blocks": [(r"^blocks\.(\d+)", None)]}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, fc_norm-ed encoder features (B, D)."""
        x = self.patch_embed(x)
        x = x + self.pos_embed.to(x.dtype)
        for blk in self.blocks:
            x = blk(x)
        return self.fc_norm(x.mean(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc_dropout(self.features(x)))
