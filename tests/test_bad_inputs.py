"""Bad inputs and bad environments, across every subcommand and every kind of file the harness reads: each one is
exit code 2, one line on stderr that names the key or file, no traceback, and nothing left behind (the command
runs in an empty folder whose contents are compared before and after).

Run commands carry the micro protocol, so an input that is wrongly accepted fails its exit-code check in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.cli import main
from tests.conftest import MICRO

MICRO_ARGS = [x for item in MICRO for x in ("--set", item)]
FILE_TASK_ARGS = [x for item in MICRO if not item.startswith("task.") for x in ("--set", item)]


def run(*args: str) -> list[str]:
    on_files = "--task" in args and args[args.index("--task") + 1] != "embedded"
    return ["run", "--results", "{tmp}/r", "--work", "{tmp}/w", *(FILE_TASK_ARGS if on_files else MICRO_ARGS), *args]


# ---------------------------------------------------------------------------------------------------------------
# files the cases need (each returns extra {placeholders})


def file_in_the_way(tmp: Path) -> dict:
    (tmp / "afile").write_text("x")
    return {}


def protocol_file(text: str, binary: bytes | None = None):
    def make(tmp: Path) -> dict:
        path = tmp / "p.yaml"
        path.write_bytes(binary) if binary is not None else path.write_text(text)
        return {}
    return make


def ucf(class_ind: str | bytes, train: str = "A/v_A_g01_c01.avi 1\n", test: str = "A/v_A_g02_c01.avi\n"):
    def make(tmp: Path) -> dict:
        ann = tmp / "ucf" / "ucfTrainTestlist"
        ann.mkdir(parents=True)
        (ann / "classInd.txt").write_bytes(class_ind if isinstance(class_ind, bytes) else class_ind.encode())
        (ann / "trainlist01.txt").write_text(train)
        (ann / "testlist01.txt").write_text(test)
        return {}
    return make


def csv_tree(train: str = "a.mp4 0\n", test: str = "b.mp4 1\n"):
    def make(tmp: Path) -> dict:
        (tmp / "csv").mkdir()
        (tmp / "csv" / "train.csv").write_text(train)
        (tmp / "csv" / "test.csv").write_text(test)
        return {}
    return make


def empty_folder(name: str):
    def make(tmp: Path) -> dict:
        (tmp / name / "sub").mkdir(parents=True)
        return {}
    return make


def hmdb_without_splits(tmp: Path) -> dict:
    (tmp / "hmdb" / "testTrainMulti_7030_splits").mkdir(parents=True)
    return {}


def checkpoint(kind: str):
    def make(tmp: Path) -> dict:
        import torch

        from benchmark.models.videomae import VideoMAEPretrain
        if kind == "hostile":
            from tests.test_videomae import Payload
            torch.save({"model": {}, "x": Payload()}, tmp / "ckpt.pth")
        else:
            torch.save({"model": VideoMAEPretrain("small", 8, 64).state_dict()}, tmp / "ckpt.pth")
        return {}
    return make


def records(kind: str):
    def make(tmp: Path) -> dict:
        from benchmark.records import write_record
        from tests.test_report import record
        write_record(tmp / "recs", record("scratch", 0, 40.0))
        if kind == "other":
            write_record(tmp / "other", record("scratch", 0, 40.0, protocol="elsewhere"))
        return {}
    return make


CASES = [
    # bench run: names, keys, values
    ("unknown-source", run("--source", "nope"), None, "unknown source 'nope'"),
    ("source-typo", run("--source", "natral"), None, "did you mean 'natural'"),
    ("unknown-protocol", run("--source", "scratch", "--protocol", "nope"), None, "unknown protocol 'nope'"),
    ("unknown-task", run("--source", "scratch", "--task", "nope"), None, "unknown task 'nope'"),
    ("unknown-key", run("--source", "scratch", "--set", "pretrain.epochz=1"), None, "unknown key pretrain.epochz"),
    ("unknown-section", run("--source", "scratch", "--set", "nonsense.x=1"), None, "unknown key nonsense"),
    ("wrong-type", run("--source", "scratch", "--set", "finetune.epochs=x"), None,
     "key finetune.epochs must be an integer"),
    ("bool-type", run("--source", "scratch", "--set", "finetune.flip=1"), None, "key finetune.flip must be true"),
    ("literal", run("--source", "scratch", "--set", "model.size=giant"), None, "key model.size must be one of"),
    ("amp-on", run("--source", "scratch", "--set", "runtime.amp=on"), None, "key runtime.amp must be one of"),
    ("unknown-source-key", run("--source", "natural", "--set", "source.vidoes=/x"), None,
     "unknown key source.vidoes"),
    ("negative-videos", run("--source", "scratch", "--set", "task.train_videos=-1"), None, "task.train_videos"),
    ("no-equals", run("--source", "scratch", "--set", "noequals"), None, "must look like section.key=value"),
    ("whole-source", run("--source", "scratch", "--set", "source=pmg"), None, "choose the source with --source"),
    ("not-a-section", run("--source", "scratch", "--set", "pretrain.epochs.x=3"), None,
     "pretrain.epochs is not a section"),
    ("inf", run("--source", "natural", "--set", "pretrain.warmup_epochs=.inf"), None,
     "key pretrain.warmup_epochs must be a finite number"),
    ("nan-lr", run("--source", "natural", "--set", "pretrain.base_lr=.nan"), None,
     "key pretrain.base_lr must be a finite number"),
    ("nan-smoothing", run("--source", "natural", "--set", "finetune.label_smoothing=.nan"), None,
     "key finetune.label_smoothing must be a finite number"),
    ("huge-int", run("--source", "scratch", "--set", "pretrain.epochs=99999999999999999999999"), None,
     "key pretrain.epochs must be an integer below 2^63"),
    ("negative-seed", run("--source", "scratch", "--seed", "-1"), None, "--seed must be an integer in 0..2^63-1"),
    ("huge-seed", run("--source", "scratch", "--seed", "99999999999999999999999"), None, "--seed must be an integer"),
    ("mask-ratio", run("--source", "scratch", "--set", "pretrain.mask_ratio=1.5"), None,
     "key pretrain.mask_ratio must be <= 0.99"),
    # bench run: geometry and schedules, refused before any stage starts
    ("tubelet", run("--source", "natural", "--set", "clip.frames=7"), None, "multiple of model.tubelet_size"),
    ("patch", run("--source", "natural", "--set", "clip.size=65"), None, "multiple of model.patch_size"),
    ("three-frames", run("--source", "natural", "--set", "clip.frames=3"), None, "multiple of model.tubelet_size"),
    ("huge-batch", run("--source", "natural", "--set", "pretrain.batch_size=100000000"), None,
     "pretrain.batch_size (100000000) is larger than an epoch"),
    ("long-warmup", run("--source", "natural", "--set", "pretrain.warmup_epochs=5"), None,
     "pretrain: the warmup (15 steps) must be shorter than training (6 steps)"),
    ("finetune-warmup", run("--source", "scratch", "--set", "finetune.warmup_epochs=9"), None,
     "finetune: the warmup"),
    ("mixup-odd", run("--source", "scratch", "--set", "finetune.batch_size=7", "--set", "finetune.mixup=0.8"), None,
     "Mixup/CutMix needs an even number of clips"),
    ("perturbation", run("--source", "scratch", "--set", "evaluate.perturbations=[nope]"), None,
     "unknown perturbation 'nope'"),
    ("severity", run("--source", "scratch", "--set", "evaluate.severities=[9]"), None,
     "evaluate.severities must hold values in 1..5"),
    ("test-crops", run("--source", "scratch", "--set", "evaluate.test_crops=2"), None,
     "key evaluate.test_crops must be one of"),
    ("lowdata-mixed", run("--source", "scratch", "--set", "lowdata.per_class=[5]", "--set", "lowdata.fractions=[0.5]"),
     None, "need not be nested"),
    ("lowdata-zero", run("--source", "scratch", "--set", "lowdata.per_class=[0]"), None,
     "lowdata.per_class must be >= 1"),
    ("linear-probe-full", run("--source", "scratch", "--set", "linear_probe.mode=full"), None,
     "linear_probe.mode must be linear"),
    ("attentive-crops", run("--source", "scratch", "--set", "attentive_probe.test_crops=2"), None,
     "attentive_probe.test_crops must be 1 or 3"),
    ("knn-crops", run("--source", "scratch", "--set", "knn.crops=2"), None, "knn.crops must be 1 or 3"),
    ("knn-k", run("--source", "scratch", "--set", "knn.k=0"), None, "key knn.k must be > 0"),
    ("device", run("--source", "scratch", "--set", "runtime.device=tpu"), None, "runtime.device 'tpu' is not"),
    # bench run: outputs
    ("results-is-a-file", ["run", "--source", "scratch", "--results", "{tmp}/afile", "--work", "{tmp}/w",
                           *MICRO_ARGS], file_in_the_way, "is a file, not a folder"),
    ("work-is-a-file", ["run", "--source", "scratch", "--results", "{tmp}/r", "--work", "{tmp}/afile/w",
                        *MICRO_ARGS], file_in_the_way, "is a file, not a folder"),
    # bench run: protocol files
    ("yaml-syntax", run("--source", "scratch", "--protocol", "{tmp}/p.yaml"), protocol_file("model: [oops\n"),
     "is not valid YAML"),
    ("yaml-binary", run("--source", "scratch", "--protocol", "{tmp}/p.yaml"),
     protocol_file("", b"model:\n  size: \xff\xfe\n"), "is not UTF-8 text"),
    ("yaml-cycle", run("--source", "scratch", "--protocol", "{tmp}/p.yaml"), protocol_file("base: p.yaml\n"),
     "inherits from itself"),
    ("yaml-key", run("--source", "scratch", "--protocol", "{tmp}/p.yaml"), protocol_file("base: smoke\nfoo: 1\n"),
     "unknown key foo"),
    ("yaml-base-type", run("--source", "scratch", "--protocol", "{tmp}/p.yaml"), protocol_file("base: 3\n"),
     "key base in"),
    ("yaml-list", run("--source", "scratch", "--protocol", "{tmp}/p.yaml"), protocol_file("- a\n- b\n"),
     "must be a YAML mapping"),
    ("yaml-missing", run("--source", "scratch", "--protocol", "{tmp}/missing.yaml"), None, "does not exist"),
    # bench run: tasks' files
    ("ucf-no-root", run("--source", "scratch", "--task", "ucf101"), None, "needs its files: add --data-root"),
    ("ucf-missing-root", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/nope"), None,
     "does not exist or is not a folder"),
    ("ucf-split", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf", "--split", "4"),
     ucf("1 A\n"), "split must be 1, 2 or 3"),
    ("ucf-classind-binary", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"),
     ucf(b"1 A\xff\n"), "classInd.txt is not UTF-8 text"),
    ("ucf-classind-empty", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"), ucf(""),
     "classInd.txt lists no classes"),
    ("ucf-classind-bad-line", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"),
     ucf("A 1\n"), "classInd.txt line 1 must be `<id> <ClassName>`"),
    ("ucf-trainlist-empty", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"),
     ucf("1 A\n", train=""), "trainlist01.txt lists no videos"),
    ("ucf-testlist-empty", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"),
     ucf("1 A\n", test=""), "testlist01.txt lists no videos"),
    ("ucf-label-disagrees", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"),
     ucf("1 A\n2 B\n", train="A/v_A_g01_c01.avi 2\n"), "disagrees with the class folder A"),
    ("ucf-unknown-class", run("--source", "scratch", "--task", "ucf101", "--data-root", "{tmp}/ucf"),
     ucf("1 A\n", test="Z/v_Z_g01_c01.avi\n"), "class folder 'Z' is not in"),
    ("hmdb-no-splits", run("--source", "scratch", "--task", "hmdb51", "--data-root", "{tmp}/hmdb"),
     hmdb_without_splits, "no *_test_split1.txt files in"),
    ("csv-empty", run("--source", "scratch", "--task", "csv", "--data-root", "{tmp}/csv"), csv_tree(train=""),
     "train.csv lists no videos"),
    ("csv-no-label", run("--source", "scratch", "--task", "csv", "--data-root", "{tmp}/csv"),
     csv_tree(train="a.mp4\n"), "line 1 must be `<path> <integer label>`"),
    ("csv-label-range", run("--source", "scratch", "--task", "csv", "--data-root", "{tmp}/csv"),
     csv_tree(test="b.mp4 -1\n"), "labels must be in 0..0 (1 classes), found -1"),
    ("csv-classes-missing", run("--source", "scratch", "--task", "csv", "--data-root", "{tmp}/csv", "--set",
                                "task.classes=missing.txt"), csv_tree(), "missing.txt does not exist"),
    ("folder-empty", run("--source", "scratch", "--task", "folder", "--data-root", "{tmp}/f"), empty_folder("f/train"),
     "holds no videos"),
    # bench run: sources' parameters and files
    ("mixture-unknown", run("--source", "mixture", "--set", "source.components=[{source: nope}]"), None,
     "'nope' is not a clip source"),
    ("mixture-init", run("--source", "mixture", "--set", "source.components=[{source: scratch}]"), None,
     "'scratch' is not a clip source"),
    ("mixture-weight", run("--source", "mixture", "--set", "source.components=[{source: pmg, weight: 0}]"), None,
     "components[0].weight must be > 0"),
    ("pmg-zoom", run("--source", "pmg", "--set", "source.zoom=[0.5, 2]"), None, "key source.zoom must be"),
    ("pmg-transform", run("--source", "pmg", "--set", "source.transforms=[spin]"), None,
     "key source.transforms[0] must be one of"),
    ("pmg-empty-folder", run("--source", "pmg", "--set", "source.images={tmp}/imgs"), empty_folder("imgs"),
     "holds no images"),
    ("pmg-pool-size", run("--source", "pmg", "--set", "source.images=fractal:0"), None,
     "the size after ':' must be a whole number >= 1"),
    ("pmg-pool-unsized", run("--source", "pmg", "--set", "source.images=bundled:5"), None,
     "only the synthetic pools take a size"),
    ("natural-videos", run("--source", "natural", "--set", "source.videos={tmp}/none"), None,
     "is neither a folder of videos nor"),
    ("textures-folder", run("--source", "accel-textures", "--set", "source.textures={tmp}/imgs"),
     empty_folder("imgs"), "holds no images"),
    ("synthetic-objects", run("--source", "moving-shapes", "--set", "source.objects=0"), None,
     "source.objects must be >= 1"),
    ("checkpoint-no-path", run("--source", "checkpoint"), None, "needs a file: add --set source.path="),
    ("checkpoint-missing", run("--source", "checkpoint", "--set", "source.path={tmp}/no.pth"), None,
     "does not exist"),
    ("checkpoint-hostile", run("--source", "checkpoint", "--set", "source.path={tmp}/ckpt.pth"), checkpoint("hostile"),
     "holds an object of type print"),
    ("checkpoint-size", run("--source", "checkpoint", "--set", "source.path={tmp}/ckpt.pth"), checkpoint("small"),
     "does not match the model"),
    # bench generate
    ("generate-init", ["generate", "--source", "scratch", "--out", "{tmp}/g"], None, "has no clips to generate"),
    ("generate-n", ["generate", "--source", "pmg", "-n", "0", "--out", "{tmp}/g"], None, "must be >= 1"),
    ("generate-key", ["generate", "--source", "pmg", "--set", "pretrain.epochs=1", "--out", "{tmp}/g"], None,
     "takes source parameters only"),
    ("generate-out-file", ["generate", "--source", "pmg", "--out", "{tmp}/afile/g"], file_in_the_way,
     "is a file, not a folder"),
    ("generate-seed", ["generate", "--source", "pmg", "--seed", "-1", "--out", "{tmp}/g"], None,
     "--seed must be an integer"),
    # reading records
    ("table-kind", ["table", "--kind", "nope", "--results", "{tmp}/recs"], records(""), "--kind 'nope' is not a table"),
    ("table-empty", ["table", "--results", "{tmp}/none"], None, "no result records under"),
    ("table-ood", ["table", "--kind", "ood", "--results", "{tmp}/recs"], records(""), "no records with ood results"),
    ("table-format", ["table", "--format", "nope"], None, "invalid choice: 'nope'"),
    ("plot-kind", ["plot", "nope", "--results", "{tmp}/recs", "--out", "{tmp}/p"], records(""), "unknown plot 'nope'"),
    ("plot-lowdata", ["plot", "lowdata", "--results", "{tmp}/recs", "--out", "{tmp}/p"], records(""),
     "no records with lowdata results"),
    ("plot-out-file", ["plot", "progression", "--results", "{tmp}/recs", "--out", "{tmp}/afile/p"],
     file_in_the_way, "is a file, not a folder"),
    ("paper-unknown", ["paper", "nope"], None, "unknown paper 'nope'"),
    ("paper-table", ["paper", "yu2024", "--table", "99"], None, "has no table '99'"),
    ("paper-protocol", ["paper", "yu2024", "--protocol", "nosuch"], None, "unknown protocol 'nosuch'"),
    ("paper-task", ["paper", "yu2024", "--task", "nosuch"], None, "unknown task 'nosuch'"),
    ("paper-column", ["paper", "yu2024", "--protocol", "smoke", "--task", "embedded", "--column", "nope"], None,
     "--column 'nope' is in none"),
    ("leaderboard-empty", ["leaderboard", "--results", "{tmp}/none", "--out", "{tmp}/b"], None,
     "no result records under"),
    ("leaderboard-out-file", ["leaderboard", "--results", "{tmp}/recs", "--out", "{tmp}/afile/b"], file_in_the_way,
     "is a file, not a folder"),
    ("check-tolerance", ["check", "--against", "{tmp}/recs", "--results", "{tmp}/recs", "--tolerance", "-5"],
     records(""), "--tolerance must be a number of points >= 0"),
    ("check-nan", ["check", "--against", "{tmp}/recs", "--results", "{tmp}/recs", "--tolerance", "nan"],
     records(""), "--tolerance must be a number"),
    ("check-alpha", ["check", "--against", "{tmp}/recs", "--results", "{tmp}/recs", "--alpha", "2"], records(""),
     "--alpha must be in (0, 1)"),
    ("check-no-fresh", ["check", "--against", "{tmp}/recs", "--results", "{tmp}/none"], records(""),
     "no fresh result records"),
    ("check-no-reference", ["check", "--against", "{tmp}/none", "--results", "{tmp}/recs"], records(""),
     "no reference records"),
    ("check-unrelated", ["check", "--against", "{tmp}/other", "--results", "{tmp}/recs"], records("other"),
     "nothing was compared"),
    ("check-metric", ["check", "--against", "{tmp}/recs", "--results", "{tmp}/recs", "--metric", "knn.top1"],
     records(""), "has metric 'knn.top1'"),
    # bench datasets check
    ("datasets-generated", ["datasets", "check", "--task", "embedded"], None, "is generated, not read from files"),
    ("datasets-root", ["datasets", "check", "--task", "ucf101"], None, "needs its files: add --data-root"),
    ("datasets-csv-empty", ["datasets", "check", "--task", "csv", "--data-root", "{tmp}/csv"], csv_tree(test=""),
     "test.csv lists no videos"),
    ("datasets-key", ["datasets", "check", "--task", "ucf101", "--set", "pretrain.epochs=1"], None,
     "takes task parameters only"),
    # listings and the parser
    ("sources-name", ["sources", "nope"], None, "no source called 'nope'"),
    ("protocols-name", ["protocols", "nope"], None, "unknown protocol 'nope'"),
    ("tasks-name", ["tasks", "nope"], None, "no task called 'nope'"),
    ("stages-name", ["stages", "nope"], None, "no stage called 'nope'"),
    ("perturbations-name", ["perturbations", "nope"], None, "no perturbation called 'nope'"),
    ("command", ["frobnicate"], None, "invalid choice"),
    ("run-no-source", ["run"], None, "the following arguments are required: --source"),
]


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("argv, setup, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(argv, setup, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # anything written to a default folder (runs/, previews/) would show here
    if setup is not None:
        setup(tmp_path)
    before = snapshot(tmp_path)
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (code, err[-500:], captured.out[-500:])
    assert err.count("\n") == 1 and err.startswith("bench") and "Traceback" not in err, err
    assert message in err, err
    assert snapshot(tmp_path) == before, snapshot(tmp_path) - before


def test_the_suite_is_at_least_sixty_distinct_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 60
