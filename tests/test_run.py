"""End-to-end runs at micro scale: records, determinism, the checkpoint cache, exact resume, torchrun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.records import read_records
from tests.conftest import MICRO


def bench_run(source: str, results: Path, work: Path, *extra: str, seed: int = 0) -> dict:
    """`bench run` at micro scale; returns the record it wrote, as the JSON on disk."""
    args = ["run", "--source", source, "--results", str(results), "--work", str(work), "--seed", str(seed)]
    for item in MICRO + list(extra):
        args += ["--set", item]
    assert main(args) == 0
    (new,) = sorted(read_records(results, source=source, seed=seed)[0], key=lambda r: r.path.stat().st_mtime)[-1:]
    return json.loads(new.path.read_text())


def final_weights(work: Path, stage: str) -> dict:
    (path,) = work.glob(f"{stage}/*/final.pt")
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_scratch_and_natural_runs_write_complete_records(tmp_path, capsys):
    results, work = tmp_path / "results", tmp_path / "work"
    scratch = bench_run("scratch", results, work)
    natural = bench_run("natural", results, work)
    out = capsys.readouterr().out
    assert "record: " in out and "| >" in out  # the table marks this run

    assert scratch["pretrain"] is None and scratch["pretrain_hash"] is None
    assert natural["pretrain"]["steps"] == 6 and natural["pretrain"]["cached"] is False
    for rec in (scratch, natural):
        assert 0 <= rec["metrics"]["top1"] <= rec["metrics"]["top5"] <= 100
        assert rec["metrics"]["test_videos"] == 16 and rec["metrics"]["views_per_video"] == 6
        assert rec["protocol"] == "smoke" and rec["task"] == "embedded" and rec["seed"] == 0
        assert rec["config"]["pretrain"]["epochs"] == 2 and rec["config"]["task"]["params"]["train_videos"] == 32
        assert len(rec["config_hash"]) == 16
        env = rec["environment"]
        assert env["packages"]["torch"] == torch.__version__.split("+")[0] or env["packages"]["torch"]
        assert env["hardware"]["device"] == "cpu" and "git" in env
        assert rec["finetune"]["steps"] == 8 and rec["timings"]["total_s"] > 0
        assert rec["skipped_videos"] == {"pretrain": [], "finetune": [], "test": []}
    assert natural["source_info"]["videos"] == 4
    assert natural["config_hash"] != scratch["config_hash"]
    (log,) = work.glob("pretrain/*/log.jsonl")
    assert json.loads(log.read_text().splitlines()[-1])["step"] == 6


def test_same_seed_gives_identical_metrics_and_cached_stages_are_reused(tmp_path):
    a = bench_run("natural", tmp_path / "r", tmp_path / "w1")
    b = bench_run("natural", tmp_path / "r", tmp_path / "w2")
    assert a["metrics"] == b["metrics"]
    for stage in ("pretrain", "finetune"):
        wa, wb = final_weights(tmp_path / "w1", stage), final_weights(tmp_path / "w2", stage)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = bench_run("natural", tmp_path / "r", tmp_path / "w1")
    assert c["pretrain"]["cached"] and c["finetune"]["cached"]
    assert c["metrics"] == a["metrics"] and c["run_id"] != a["run_id"]
    d = bench_run("natural", tmp_path / "r", tmp_path / "w1", "finetune.epochs=3")
    assert d["pretrain"]["cached"] and not d["finetune"]["cached"]  # one pretraining, many finetunes


def test_killed_run_resumes_from_its_checkpoint_and_matches(tmp_path):
    longer = ["pretrain.epochs=8", "runtime.checkpoint_every=2"]
    reference = bench_run("natural", tmp_path / "ref", tmp_path / "wref", *longer)

    work, results = tmp_path / "w", tmp_path / "r"
    cmd = [sys.executable, "-m", "benchmark", "run", "--source", "natural", "--results", str(results),
           "--work", str(work)]
    for item in MICRO + longer:
        cmd += ["--set", item]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).parents[1])
    deadline = time.time() + 120
    while not list(work.glob("pretrain/*/checkpoint.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (ckpt,) = work.glob("pretrain/*/checkpoint.pt")
    step = torch.load(ckpt, weights_only=False)["step"]
    assert 0 < step < 24 and not list(work.glob("pretrain/*/final.pt"))
    assert not results.exists() or not list(results.rglob("*.json"))  # no record from the killed run

    resumed = bench_run("natural", results, work, *longer)
    assert resumed["pretrain"]["resumed_from_step"] >= step
    assert resumed["metrics"] == reference["metrics"]
    (log,) = work.glob("pretrain/*/log.jsonl")
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 24  # no step logged twice across the kill
    ref_w, res_w = final_weights(tmp_path / "wref", "pretrain"), final_weights(work, "pretrain")
    assert all(torch.equal(ref_w[k], res_w[k]) for k in ref_w)


def test_torchrun_two_cpu_processes_with_gloo(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    single = bench_run("natural", tmp_path / "r1", tmp_path / "w1")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "benchmark", "run", "--source", "natural",
           "--results", str(tmp_path / "r2"), "--work", str(tmp_path / "w2")]
    for item in MICRO:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    records, _ = read_records(tmp_path / "r2")
    assert len(records) == 1  # only rank 0 writes
    rec = records[0].to_json()
    assert rec["environment"]["hardware"]["processes"] == 2
    # the same global batches split over two ranks: DDP's averaged gradients equal the single-process ones
    w1, w2 = final_weights(tmp_path / "w1", "pretrain"), final_weights(tmp_path / "w2", "pretrain")
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], atol=2e-4, rtol=1e-3)
    assert rec["config_hash"] == single["config_hash"]


def test_videomae_finetuning_augmentation_runs(tmp_path):
    """Mixup/CutMix, RandAugment, random erasing, repeated augmentation, drop path and head dropout together."""
    rec = bench_run("scratch", tmp_path / "r", tmp_path / "w", "finetune.mixup=0.8", "finetune.cutmix=1.0",
                    "finetune.randaug=rand-m7-n4-mstd0.5-inc1", "finetune.reprob=0.25", "finetune.repeated_aug=2",
                    "finetune.drop_path=0.1", "finetune.fc_dropout=0.5", "finetune.label_smoothing=0.1")
    assert rec["finetune"]["steps"] == 8
    assert rec["finetune"]["clips_per_s"] > 0
    assert rec["config"]["finetune"]["repeated_aug"] == 2


def test_checkpoint_source_reproduces_finetuning_from_an_official_file_and_loads_hf_folders(tmp_path):
    natural = bench_run("natural", tmp_path / "r", tmp_path / "w")
    (final,) = (tmp_path / "w").glob("pretrain/*/final.pt")
    official = tmp_path / "checkpoint-799.pth"
    from tests.test_videomae import Payload, save_model_file
    save_model_file(official, torch.load(final, weights_only=True)["model"])  # as MCG-NJU's utils.save_model
    from_file = bench_run("checkpoint", tmp_path / "r", tmp_path / "w", f"source.path={official}")
    assert from_file["pretrain_hash"].startswith("file-") and from_file["metrics"] == natural["metrics"]
    assert from_file["finetune"]["head"] == "new"  # a pretraining checkpoint has no head
    hostile = tmp_path / "hostile.pth"
    torch.save({"model": {}, "x": Payload()}, hostile)
    refused = ["run", "--source", "checkpoint", "--set", f"source.path={hostile}", "--results",
               str(tmp_path / "r3"), "--work", str(tmp_path / "w3")] + [x for item in MICRO for x in ("--set", item)]
    assert main(refused) == 2
    assert not (tmp_path / "r3").exists() and not (tmp_path / "w3").exists()  # refused before any work

    transformers = __import__("pytest").importorskip("transformers")
    cfg = transformers.VideoMAEConfig(image_size=64, num_frames=8, hidden_size=192, num_hidden_layers=4,
                                      num_attention_heads=3, intermediate_size=768, decoder_hidden_size=96,
                                      decoder_num_hidden_layers=4, decoder_num_attention_heads=3,
                                      decoder_intermediate_size=384, use_mean_pooling=False)
    transformers.VideoMAEForPreTraining(cfg).save_pretrained(tmp_path / "hf")
    rec = bench_run("checkpoint", tmp_path / "r", tmp_path / "w", f"source.path={tmp_path / 'hf'}")
    assert rec["source_info"]["checkpoint"] == str(tmp_path / "hf")
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": {"encoder.blocks.0.attn.k_bias": torch.zeros(3)}}, wrong)
    args = ["run", "--source", "checkpoint", "--set", f"source.path={wrong}", "--results", str(tmp_path / "r"),
            "--work", str(tmp_path / "w")] + [x for item in MICRO for x in ("--set", item)]
    assert main(args) == 2


def test_progress_lines_on_stderr_when_not_a_terminal(tmp_path):
    """CI and Slurm logs: one line per log_every steps with the stage, step/total, loss, clips/s and ETA."""
    cmd = [sys.executable, "-m", "benchmark", "run", "--source", "natural", "--results", str(tmp_path / "r"),
           "--work", str(tmp_path / "w")] + [x for item in MICRO + ["runtime.progress=true", "runtime.log_every=2"]
                                             for x in ("--set", item)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith(("pretrain", "finetune"))]
    assert any(ln.startswith("pretrain ") and " step 2/6 loss " in ln and "clips/s ETA " in ln for ln in lines)
    assert any(ln.startswith("finetune ") and "step 8/8" in ln for ln in lines)
    assert "\r" not in done.stderr  # no progress bar escape sequences in a log file


@pytest.mark.slow
def test_the_gpu_code_paths_run_on_the_cpu_bf16_autocast_and_compile(tmp_path, capsys):
    """bf16 autocast and torch.compile are on by default on CUDA only; here they run on the CPU at micro scale, so
    the code a GPU run takes has run before a GPU is at hand."""
    bf16 = bench_run("pmg", tmp_path / "r1", tmp_path / "w1", "runtime.amp=bf16", "source.size=64")
    compiled = bench_run("pmg", tmp_path / "r2", tmp_path / "w2", "runtime.compile=on", "source.size=64")
    bench_run("pmg", tmp_path / "r3", tmp_path / "w3", "source.size=64")
    for record in (bf16, compiled):
        assert 0 <= record["metrics"]["top1"] <= 100 and record["pretrain"]["steps"] == 6
    assert record["config"]["runtime"]["compile"] == "on"
    # compile changes no arithmetic that matters: the losses agree with eager to float tolerance
    logs = [json.loads(p.read_text().splitlines()[-1])["loss"] for p in
            (next((tmp_path / w).glob("pretrain/*/log.jsonl")) for w in ("w2", "w3"))]
    assert abs(logs[0] - logs[1]) < 1e-3 * max(1.0, abs(logs[1]))


def test_tensorboard_event_files_hold_the_scalars_of_log_jsonl(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from benchmark.stages.base import load_protocol
    assert load_protocol("yu2024-ucf101").runtime.tensorboard and not load_protocol("smoke").runtime.tensorboard
    bench_run("pmg", tmp_path / "r", tmp_path / "w", "runtime.tensorboard=true", "runtime.log_every=2",
              "source.size=64")
    for stage in ("pretrain", "finetune"):
        (folder,) = (tmp_path / "w" / stage).iterdir()
        logged = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        events = EventAccumulator(str(folder / "tensorboard"))
        events.Reload()
        tags = set(events.Tags()["scalars"])
        assert {f"{stage}/loss", f"{stage}/lr", f"{stage}/grad_norm", f"{stage}/clips_per_s"} <= tags
        losses = events.Scalars(f"{stage}/loss")
        assert [e.step for e in losses] == [r["step"] for r in logged]
        assert np.allclose([e.value for e in losses], [r["loss"] for r in logged], rtol=1e-6)
        assert all(r["grad_norm"] > 0 for r in logged)
