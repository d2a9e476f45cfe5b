"""Dataset properties (Yu et al. Section 5 and motion): each measure against a case with a known answer, the
feature networks' plumbing and naming, the ordering of real sources, the cached record, correlate, and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from benchmark.analyze import properties as P
from benchmark.cli import main


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------------------------------------------
# the measures on known cases


@pytest.mark.parametrize("alpha", [0.8, 1.2, 2.0])
def test_spectrum_fit_recovers_alpha_of_synthetic_power_law_noise(alpha):
    rng = np.random.default_rng(0)
    n = 128
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = f ** -alpha * np.exp(2j * np.pi * rng.random((n, n)))
    image = np.real(np.fft.ifft2(spectrum))
    image = (image - image.min()) / np.ptp(image)
    assert abs(P.spectrum_slope(image) - alpha) < 0.1
    assert math.isnan(P.spectrum_slope(np.full((32, 32), 0.3)))  # a flat frame has none


def test_colour_kl_is_zero_for_the_same_set_and_the_closed_form_for_two_gaussians():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 3)) @ np.diag([2.0, 1.0, 0.5]) + [50, 0, 10]
    assert abs(P.symmetric_kl(a, a)) < 1e-6
    # two Gaussians with diagonal covariances: KL in closed form, per dimension
    mu1, s1, mu2, s2 = np.array([0.0, 1, 2]), np.array([1.0, 2, 3]), np.array([1.0, 1, 0]), np.array([2.0, 1, 1])
    kl = lambda m1, v1, m2, v2: 0.5 * np.sum(v1 / v2 + (m2 - m1) ** 2 / v2 - 1 + np.log(v2 / v1))  # noqa: E731
    exact = kl(mu1, s1, mu2, s2) + kl(mu2, s2, mu1, s1)
    assert P.kl_gaussians(mu1, np.diag(s1), mu2, np.diag(s2)) + P.kl_gaussians(mu2, np.diag(s2), mu1, np.diag(s1)) \
        == pytest.approx(exact, rel=1e-12)
    b = rng.normal(size=(200000, 3)) * np.sqrt(s2) + mu2
    c = rng.normal(size=(200000, 3)) * np.sqrt(s1) + mu1
    assert P.symmetric_kl(c, b) == pytest.approx(exact, rel=0.03)


def test_frechet_distance_matches_a_direct_computation():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(500, 8)), rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8)) + 0.5
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert P.frechet_distance(a, b) == pytest.approx(direct, rel=1e-6)
    # two known Gaussians: identity vs 4 x identity, means 1 apart in each of d dims: d + d (1 + 4 - 2 * 2) = 2d
    d = 4
    exact = d * 1.0 + d * (1 + 4 - 2 * 2)
    x = rng.normal(size=(200000, d))
    y = 2 * rng.normal(size=(200000, d)) + 1
    assert P.frechet_distance(x, y) == pytest.approx(exact, rel=0.02)


def test_log_volume_of_orthonormal_dependent_and_diverse_vectors():
    assert P.log_volume(np.eye(16, 64)) == pytest.approx(0.0, abs=1e-12)
    assert P.log_volume(np.repeat(np.eye(1, 64), 16, axis=0)) == -math.inf
    rng = np.random.default_rng(3)
    tight = rng.normal(size=(16, 64)) * 0.01 + np.eye(1, 64)  # 16 nearly equal vectors
    assert P.log_volume(rng.normal(size=(16, 64))) > P.log_volume(tight)
    repeated = rng.normal(size=(16, 64))
    repeated[9] = repeated[2] * (1 + 1e-14)  # one vector twice, up to round-off: volume 0, not a tiny number
    assert P.log_volume(repeated) == -math.inf
    with pytest.raises(ValueError, match="16 clips"):
        P.diversity(np.zeros((8, 4)), np.arange(8), 4, 0)


def test_flow_and_temporal_energy_of_a_still_and_a_moving_pattern():
    rng = np.random.default_rng(4)
    texture = (rng.random((64, 96)) * 255).astype(np.uint8)
    import cv2
    texture = cv2.GaussianBlur(texture, (0, 0), 2)
    still = np.repeat(np.stack([texture[:, :64]] * 3, -1)[None], 8, 0)
    moving = np.stack([np.stack([texture[:, 2 * t:2 * t + 64]] * 3, -1) for t in range(8)])
    assert P.flow_magnitude(still) < 0.01 and P.temporal_energy(still) == 0
    assert 1.5 < P.flow_magnitude(moving) < 2.5  # two pixels per frame
    assert P.temporal_energy(moving) > 0


# ---------------------------------------------------------------------------------------------------------------
# feature networks


def _fid_inception_file(folder: Path) -> Path:
    """A state dict of pytorch-fid's FID Inception at random weights, under the published file's name."""
    import pytorch_fid.inception as fid
    real = torch.nn.Module.load_state_dict
    torch.nn.Module.load_state_dict = lambda self, *a, **k: None  # keep the random init; nothing is downloaded
    original = fid.load_state_dict_from_url
    fid.load_state_dict_from_url = lambda *a, **k: {}
    try:
        torch.manual_seed(0)
        net = fid.fid_inception_v3()
    finally:
        torch.nn.Module.load_state_dict = real
        fid.load_state_dict_from_url = original
    path = folder / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), path)
    return path


def test_inception_with_unpublished_weights_is_not_called_fid_and_its_features_give_the_direct_distance(tmp_path):
    from benchmark.analyze.features import inception
    net = inception(str(_fid_inception_file(tmp_path)))
    assert net.metric.startswith("FD[inception-v3 (weights sha256:") and net.metric != "FID"
    rng = np.random.default_rng(5)
    a = net((rng.random((24, 64, 64, 3)) * 255).astype(np.uint8))
    b = net((rng.random((24, 64, 64, 3)) * 120).astype(np.uint8))
    assert a.shape == (24, 2048) and np.isfinite(a).all() and not np.allclose(a.mean(0), b.mean(0))
    dims = np.argsort(-a.var(0))[:8]  # a full-rank case: 8 feature dimensions, 24 samples
    a, b = a[:, dims] * 1e7, b[:, dims] * 1e7  # random weights give tiny activations; the scale is immaterial
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert P.frechet_distance(a, b) == pytest.approx(direct, rel=1e-6) and direct > 0


def test_i3d_is_called_as_fvd_code_calls_it(tmp_path):
    class Detector(torch.nn.Module):
        def forward(self, x: torch.Tensor, rescale: bool, resize: bool, return_features: bool) -> torch.Tensor:
            assert rescale and resize and return_features
            return torch.stack([x.mean((1, 2, 3, 4)), x.amax((1, 2, 3, 4)), torch.tensor(float(x.shape[2])).expand(
                x.shape[0])], 1)

    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(Detector()).save(str(path))
    from benchmark.analyze.features import i3d
    net = i3d(str(path))
    clips = np.full((3, 8, 16, 16, 3), 200, np.uint8)
    out = net(clips)
    assert net.metric == "FVD" and out.shape == (3, 3)
    assert np.allclose(out[:, 0], 200) and np.allclose(out[:, 2], 8)  # (N, 3, T, H, W) in [0, 255]


@pytest.mark.parametrize("args,message", [
    (["--inception", "nope.pth"], "--inception weights file nope.pth does not exist: download "
                                  "pt_inception-2015-12-05-6726825d.pth from https://github.com/mseitzer"),
    (["--i3d", "nope.pt"], "download i3d_torchscript.pt from https://www.dropbox.com"),
    (["-n", "8"], "-n 8 is too small"),
    (["--features", "nope.pt"], "nope.pt"),
    (["--set", "reference.videos=EMPTY"], "EMPTY"),
    (["--set", "reference.data_root=EMPTY"], "reference.data_root is the data root of reference.task"),
])
def test_bad_inputs_are_one_line_with_exit_code_2(tmp_path, capsys, args, message):
    (tmp_path / "EMPTY").mkdir()
    args = [a.replace("EMPTY", str(tmp_path / "EMPTY")) for a in args]
    code, out, err = cli(capsys, "analyze", "--source", "static-circles", "-n", "16", *args, "--results",
                         tmp_path / "r", "--work", tmp_path / "w")
    assert code == 2 and message.replace("EMPTY", str(tmp_path / "EMPTY")) in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_wrong_weights_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    code, _, err = cli(capsys, "analyze", "--source", "static-circles", "--inception", bad, "--results", tmp_path)
    assert code == 2 and "is not pytorch-fid's Inception state dict" in err


# ---------------------------------------------------------------------------------------------------------------
# real sources


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Analysis records of a few sources at smoke geometry, 32 clips each, against the bundled natural clips."""
    from benchmark.analyze.compute import analyze
    root = tmp_path_factory.mktemp("analysis")
    out = {}
    for name, sets in [("static-circles", []), ("moving-circles", []), ("accel-shapes", []),
                       ("accel-textures", []), ("few-shapes", ["source.objects=5"])]:
        source = "moving-shapes" if name == "few-shapes" else name
        out[name] = analyze("smoke", source, sets, "natural", [], 32, 0, root / "r", root / "w")
    return root, out


def test_flow_orders_the_static_moving_and_accelerating_levels(analysed):
    _, rec = analysed
    flow = {k: v[0]["properties"]["flow"]["mean"] for k, v in rec.items()}
    assert flow["static-circles"] < 0.05 < flow["moving-circles"] < flow["accel-shapes"]
    energy = {k: v[0]["properties"]["temporal_energy"]["mean"] for k, v in rec.items()}
    assert energy["static-circles"] == 0 < energy["moving-circles"]


def test_diversity_grows_with_textures_and_vanishes_with_repeated_empty_frames(analysed):
    _, rec = analysed
    div = {k: v[0]["properties"]["diversity"] for k, v in rec.items()}
    assert div["accel-shapes"]["degenerate_groups"] == div["accel-textures"]["degenerate_groups"] == 0
    assert div["accel-shapes"]["log_volume"] < div["accel-textures"]["log_volume"]
    # five shapes leave many crops empty: every group of 16 frames holds the same empty frame twice, so its volume
    # is 0 and the log volume is None, whatever the machine's round-off (it once read as a finite value)
    assert div["few-shapes"]["log_volume"] is None
    assert div["few-shapes"]["degenerate_groups"] == div["few-shapes"]["groups"] == 64


def test_the_record_names_its_network_and_is_read_back(analysed, capsys):
    root, rec = analysed
    record, path, cached = rec["accel-shapes"]
    assert not cached and path.parent == root / "r" / "analysis" / "smoke"
    fd = record["properties"]["fd_frames"]
    assert fd["metric"] == "FD[videomae-tiny 8x64^2, random init, seed 0]" and fd["value"] > 0
    assert record["config"]["features"]["frames"]["weights_sha256"] is None
    assert record["config"]["reference"]["name"] == "natural" and record["config"]["n"] == 32
    code, out, _ = cli(capsys, "analyze", "--source", "accel-shapes", "-n", "32", "--results", root / "r", "--work",
                       root / "w")
    assert code == 0 and out.startswith("read back") and "FD[videomae-tiny" in out and "FID" not in out


def _accuracy_record(template: dict, source: str, params: dict, seed: int, top1: float) -> dict:
    r = json.loads(json.dumps(template))
    r.update(source=source, seed=seed, config_hash=f"{source[:6]}{seed:010d}", run_id=f"{source}-{seed}",
             experiment=f"exp-{source}")
    r["config"]["source"] = {"name": source, "params": params}
    r["config"]["seed"] = seed
    r["metrics"]["top1"] = top1
    return r


def test_correlate_tables_and_labelled_plots(analysed, capsys, tmp_path):
    from tests.test_run import bench_run
    root, rec = analysed
    template = bench_run("scratch", tmp_path / "tr", tmp_path / "tw")
    capsys.readouterr()
    results = root / "r"
    accuracy = {"static-circles": 60.0, "moving-circles": 70.0, "accel-shapes": 80.0, "accel-textures": 85.0,
                "few-shapes": 40.0}
    for name, (record, _, _) in rec.items():
        for seed in (0, 1):
            r = _accuracy_record(template, record["source"], record["source_params"], seed, accuracy[name] + seed)
            path = results / "smoke" / "embedded" / f"{r['source']}-s{seed}-{r['config_hash']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(r))
    code, out, err = cli(capsys, "analyze", "correlate", "--results", results, "--out", tmp_path / "plots",
                         "--format", "json")
    assert code == 0, err
    corr, props = json.loads(out)
    rows = {r["property"]: r for r in corr["rows"]}
    assert rows["optical flow (px/frame)"]["sources"] == 5
    assert rows["frame Frechet distance"]["published_r"] == -0.72
    assert rows["frame Frechet distance"]["network"] == "videomae-tiny 8x64^2, random init, seed 0"
    assert {r["source"] for r in props["rows"]} == {"static-circles", "moving-circles", "accel-shapes",
                                                    "accel-textures", "moving-shapes objects=5"}
    assert {r["seeds"] for r in props["rows"]} == {2}
    # the flow/accuracy correlation here is strongly positive by construction of the accuracies above
    rho = rows["optical flow (px/frame)"]["spearman"]
    assert rho.startswith("+") and float(rho.split()[0]) > 0.5
    code, out, _ = cli(capsys, "analyze", "correlate", "--results", results, "--out", tmp_path / "plots")
    assert code == 0 and (tmp_path / "plots" / "correlate.png").stat().st_size > 10_000
    svg = (tmp_path / "plots" / "correlate.svg").read_text()
    assert "moving-shapes objects=5" in svg and "Yu et al.: r = -0.72" in svg and "random init" in svg


def test_correlate_without_records_is_one_line(tmp_path, capsys):
    code, _, err = cli(capsys, "analyze", "correlate", "--results", tmp_path)
    assert code == 2 and "no analysis records" in err and "bench analyze --source" in err
