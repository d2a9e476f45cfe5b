"""Feature networks for the Frechet distances and the diversity measure.

- `inception`: the standard FID network, pytorch-fid's InceptionV3 (pool3, 2048-d), with weights from a file the
  user gives: pt_inception-2015-12-05-6726825d.pth, published at
  https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth.
  pytorch-fid fetches it through torch.hub; here the hub is pointed at a folder holding the user's file, so
  nothing is downloaded. Only the published file (sha256 starting 6726825d) makes the distance an "FID"; any
  other weights are reported as an Inception-v3 Frechet distance with their digest.
- `i3d`: the standard FVD detector, the I3D TorchScript file that StyleGAN-V and later FVD code use
  (i3d_torchscript.pt, https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt), called on float clips in
  [0, 255] with rescale=True, resize=True, return_features=True (400-d logits before the softmax).
- `videomae`: what the harness can build offline: the protocol's VideoMAE encoder (final norm, tokens mean-pooled),
  at its official random initialisation (seed 0) or with the weights of a checkpoint (a pretraining's final.pt, an
  official or Hugging Face file). Its distances are named "FD[videomae-...]", never FID or FVD. Frames go through
  it as static clips (the frame repeated over the clip).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError

FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_FILE
I3D_FILE = "i3d_torchscript.pt"
I3D_URL = "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file(path: str | None, what: str, name: str, url: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{what} weights file {path} does not exist: download {name} from {url} and give its path")
    return p


@dataclass
class FeatureNet:
    """A frozen network that maps uint8 frames (N, H, W, 3) or clips (N, T, H, W, 3) to features (N, D)."""

    name: str  # shown in tables and plots
    metric: str  # what its Frechet distance is called: FID, FVD or FD[name]
    kind: str  # "frames" or "clips"
    digest: str | None
    model: Any
    batch: int = 16

    def describe(self) -> dict:
        return {"name": self.name, "metric": self.metric, "input": self.kind, "weights_sha256": self.digest}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.batch):
                out.append(self.model(x[i:i + self.batch]).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))


def inception(path: str) -> FeatureNet:
    """pytorch-fid's FID Inception with the user's weights file (nothing downloaded)."""
    import torch
    from pytorch_fid.inception import InceptionV3
    file = _file(path, "--inception", FID_FILE, FID_URL)
    digest = sha256(file)
    published = digest.startswith(FID_FILE.rsplit("-", 1)[1].split(".")[0])
    old = torch.hub.get_dir()
    with tempfile.TemporaryDirectory() as hub:
        (Path(hub) / "checkpoints").mkdir()
        os.symlink(file.resolve(), Path(hub) / "checkpoints" / FID_FILE)  # where torch.hub looks first
        torch.hub.set_dir(hub)
        try:
            net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True).eval()
        except (RuntimeError, OSError, KeyError, ValueError, EOFError) as e:
            raise BenchError(f"--inception {path} is not pytorch-fid's Inception state dict ({type(e).__name__}); "
                             f"download {FID_FILE} from {FID_URL}") from None
        finally:
            torch.hub.set_dir(old)

    def run(frames: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
        return net(x)[0].flatten(1)

    name = "inception-v3 (FID weights)" if published else f"inception-v3 (weights sha256:{digest[:8]})"
    return FeatureNet(name, "FID" if published else f"FD[{name}]", "frames", digest, run)


def i3d(path: str) -> FeatureNet:
    """The I3D TorchScript detector of FVD, from the user's file."""
    import torch
    file = _file(path, "--i3d", I3D_FILE, I3D_URL)
    digest = sha256(file)
    try:
        net = torch.jit.load(str(file), map_location="cpu").eval()
    except (RuntimeError, ValueError) as e:
        raise BenchError(f"--i3d {path} is not a TorchScript file ({type(e).__name__}); download {I3D_FILE} from "
                         f"{I3D_URL}") from None

    def run(clips: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 4, 1, 2, 3).float()  # (N, 3, T, H, W)
        return net(x, rescale=True, resize=True, return_features=True)

    return FeatureNet(f"i3d (torchscript sha256:{digest[:8]})", "FVD", "clips", digest, run)


def videomae(protocol, checkpoint: str | None, kind: str) -> FeatureNet:
    """The protocol's VideoMAE encoder, random (seed 0) or from a checkpoint; mean-pooled normalised tokens."""
    import torch

    from benchmark.data.transforms import normalize
    from benchmark.models.build import frozen_encoder
    from benchmark.models.checkpoints import read_checkpoint
    p = protocol
    weights, digest, what = None, None, "random init, seed 0"
    if checkpoint is not None:
        weights = read_checkpoint(checkpoint)  # one-line errors for a missing or foreign file
        files = sorted(Path(checkpoint).glob("*.safetensors")) if Path(checkpoint).is_dir() else [Path(checkpoint)]
        digest = sha256(files[0]) if files else None
        what = f"weights sha256:{digest[:8]}" if digest else f"weights {checkpoint}"
    torch.manual_seed(0)
    encoder = frozen_encoder(p.model, p.clip, weights, f"--features {checkpoint}")

    def run(x: np.ndarray):
        if kind == "frames":  # a frame as a static clip
            x = np.repeat(x[:, None], p.clip.frames, axis=1)
        v = torch.from_numpy(np.ascontiguousarray(x)).float()  # (N, T, H, W, 3)
        batch = torch.stack([normalize(c.permute(0, 3, 1, 2), p.clip.mean, p.clip.std) for c in v])
        return encoder(batch).mean(1)

    name = f"videomae-{p.model.size} {p.clip.frames}x{p.clip.size}^2, {what}"
    return FeatureNet(name, f"FD[{name}]", kind, digest, run)
