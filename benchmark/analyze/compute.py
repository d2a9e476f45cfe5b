"""`bench analyze --source S`: the dataset properties of a source's clips against a reference set of natural clips.

Both sets are sampled as pretraining sees them: clips `key` of the source (and of the reference source) through the
protocol's pretraining view (its clip geometry and multi-scale crop, `PretrainClips.view`), for N keys drawn with
the seed from the keys a pretraining would use. The reference is a clip source too: `natural` (the bundled natural
clips) by default, or natural video from a folder or a task's training split (`--set reference.videos=DIR`,
`--set reference.task=ucf101 --set reference.data_root=DIR`).

The result is a JSON record in <results>/analysis/<protocol>/<source>-<hash>.json, the hash covering everything
that determines it (protocol geometry, source and parameters, N, seed, reference and its parameters, the feature
networks and their weights' digests); a second call with the same inputs reads it back. The reference's features
and properties are cached under <work>/analysis-reference/<hash>.npz, shared by every source analysed against it.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.analyze import properties as P
from benchmark.config import stable_hash, to_dict
from benchmark.errors import BenchError
from benchmark.runtime import atomic_write, atomic_write_json, check_writable

SCHEMA = 2  # 2: dependent frames by the Gram eigenvalues, not the sign of round-off
GROUPS = 64  # diversity groups of 16 frames
SPECTRUM_FRAMES = 256
LAB_PIXELS = 2048  # per clip


def _progress(desc: str, total: int):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="clip", file=sys.stderr, disable=None, dynamic_ncols=True)


def sample_clips(run, n: int, seed: int, desc: str) -> np.ndarray:
    """uint8 (n, T, S, S, 3): clips of the run's source as its pretraining sees them, for n random keys."""
    from benchmark.data.datasets import PretrainClips
    p = run.protocol
    dataset = PretrainClips(run.source_object, p.clip, p.pretrain, run.seed, (1, 1, 1))
    space = max(n, p.pretrain.epoch_size * max(1, p.pretrain.epochs))
    keys = np.random.default_rng([seed, 17]).choice(space, n, replace=False)
    out = np.empty((n, p.clip.frames, p.clip.size, p.clip.size, 3), np.uint8)
    with _progress(desc, n) as bar:
        for i, key in enumerate(keys.tolist()):
            out[i] = dataset.view(key).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
            bar.update(1)
    return out


def own_properties(clips: np.ndarray, frame_features: np.ndarray, seed: int) -> dict[str, Any]:
    """What a set has on its own: diversity, spectrum slope, motion."""
    n, t = clips.shape[:2]
    rng = np.random.default_rng([seed, 5])
    flat = clips.reshape(n * t, *clips.shape[2:])
    frames = rng.choice(len(flat), min(SPECTRUM_FRAMES, len(flat)), replace=False)
    grey = P.grey(flat[frames])
    return {"diversity": P.diversity(frame_features, np.repeat(np.arange(n), t), GROUPS, seed),
            "spectrum_alpha": P.summary([P.spectrum_slope(g) for g in grey]),
            "flow": P.summary([P.flow_magnitude(c) for c in clips]),
            "temporal_energy": P.summary([P.temporal_energy(c) for c in clips])}


def lab(clips: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 9])
    return np.concatenate([P.lab_pixels(c, LAB_PIXELS, rng) for c in clips])


def features_of(nets: dict, clips: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for key, net in nets.items():
        x = clips.reshape(-1, *clips.shape[2:]) if net.kind == "frames" else clips
        out[key] = net(x)
    return out


def feature_nets(protocol, inception: str | None, i3d: str | None, checkpoint: str | None) -> dict:
    """frames/clips -> FeatureNet: the standard networks where their files are given, else the VideoMAE encoder;
    `diversity` always uses the frame network."""
    from benchmark.analyze import features as F
    frames = F.inception(inception) if inception else F.videomae(protocol, checkpoint, "frames")
    clips = F.i3d(i3d) if i3d else F.videomae(protocol, checkpoint, "clips")
    return {"frames": frames, "clips": clips}


def analyze(protocol: str, source: str, overrides: list[str], reference: str, reference_overrides: list[str], n: int,
            seed: int, results: Path, work: Path, inception: str | None = None, i3d: str | None = None,
            checkpoint: str | None = None) -> tuple[dict, Path, bool]:
    """(record, its path, whether it was read back)."""
    from benchmark.run import resolve
    if n < P.GROUP:
        raise BenchError(f"-n {n} is too small: the diversity groups need at least {P.GROUP} clips (and a "
                         f"covariance many more; 64 or more is sensible)")
    run = resolve(protocol, source, None, seed, overrides)
    try:
        ref = resolve(protocol, reference, None, seed, [f"source.{o.split('.', 1)[1]}" if o.startswith("reference.")
                                                        else o for o in reference_overrides])
        ref.source_object  # noqa: B018 (building a source checks its folders and files before any work)
    except BenchError as e:
        raise BenchError(f"reference: {e}".replace("source.", "reference.")) from None
    nets = feature_nets(run.protocol, inception, i3d, checkpoint)
    p = run.protocol
    config = {"protocol": p.name, "clip": to_dict(p.clip), "pretrain_view": {"crop_scales": p.pretrain.crop_scales,
                                                                              "stride": p.pretrain.stride,
                                                                              "flip": p.pretrain.flip},
              "n": n, "seed": seed, "features": {k: v.describe() for k, v in nets.items()},
              "reference": {"name": ref.source, "params": to_dict(ref.source_params)}}
    key = {"schema": SCHEMA, "source": run.source, "params": to_dict(run.source_params), **config}
    digest = stable_hash(key)
    path = results / "analysis" / Path(p.name).stem / f"{run.source}-{digest}.json"
    if path.is_file():
        return json.loads(path.read_text()), path, True
    check_writable(results, "--results")
    check_writable(work, "--work")
    run.source_object  # noqa: B018 (building the source checks its folders and files before any work)
    t0 = time.perf_counter()
    ref_stats, ref_feats, ref_lab = reference_set(ref, nets, n, seed, work, stable_hash({**config, "schema": SCHEMA}))
    clips = sample_clips(run, n, seed, f"analyze {run.source}")
    feats = features_of(nets, clips)
    props = own_properties(clips, feats["frames"], seed)
    props["fd_frames"] = {"value": P.frechet_distance(feats["frames"], ref_feats["frames"]),
                          "metric": nets["frames"].metric, "samples": [len(feats["frames"]), len(ref_feats["frames"])],
                          "dims": int(feats["frames"].shape[1])}
    props["fd_clips"] = {"value": P.frechet_distance(feats["clips"], ref_feats["clips"]),
                         "metric": nets["clips"].metric, "samples": [len(feats["clips"]), len(ref_feats["clips"])],
                         "dims": int(feats["clips"].shape[1])}
    props["colour_kl"] = {"value": P.symmetric_kl(lab(clips, seed), ref_lab), "space": "L*a*b* (OpenCV)"}
    record = {"kind": "analysis", "schema": SCHEMA, "hash": digest, "source": run.source,
              "source_params": to_dict(run.source_params), "config": config, "properties": props,
              "reference_properties": ref_stats, "seconds": round(time.perf_counter() - t0, 2),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(path, record)
    return record, path, False


def reference_set(ref, nets, n: int, seed: int, work: Path, digest: str):
    """(own properties, features, L*a*b* pixels) of the reference clips, cached in the work folder."""
    folder = work / "analysis-reference"
    cache = folder / f"{digest}.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return json.loads(str(data["stats"])), {"frames": data["frames"], "clips": data["clips"]}, data["lab"]
    clips = sample_clips(ref, n, seed, f"reference {ref.source}")
    feats = features_of(nets, clips)
    stats = own_properties(clips, feats["frames"], seed)
    pixels = lab(clips, seed)
    atomic_write(cache, lambda f: np.savez(f, stats=json.dumps(stats), frames=feats["frames"], clips=feats["clips"],
                                           lab=pixels))
    return stats, feats, pixels
