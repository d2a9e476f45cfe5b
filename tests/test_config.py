import pytest

from benchmark import config
from benchmark.config import Protocol, build, stable_hash, to_dict
from benchmark.errors import BenchError
from benchmark.stages.base import load_protocol


def test_every_shipped_protocol_validates():
    names = config.protocol_names()
    assert {"smoke", "videomae"} <= set(names)
    for name in names:
        p = load_protocol(name)
        assert p.name == name and p.description


def test_base_inheritance_merges_nested_sections():
    smoke, base = load_protocol("smoke"), load_protocol("videomae")
    assert smoke.model.size == "tiny" and base.model.size == "base"
    assert smoke.pretrain.weight_decay == base.pretrain.weight_decay == 0.05  # inherited
    assert smoke.pretrain.betas == (0.9, 0.95)
    assert smoke.clip.frames == 8 and smoke.clip.size == 64


def test_overrides_parse_yaml_values():
    p = load_protocol("smoke", ["pretrain.epochs=3", "finetune.base_lr=1e-3", "finetune.randaug=null",
                                "pretrain.crop_scales=[1.0, 0.5]", "runtime.progress=false"])
    assert p.pretrain.epochs == 3
    assert p.finetune.base_lr == 1e-3 and isinstance(p.finetune.base_lr, float)
    assert p.finetune.randaug is None
    assert p.pretrain.crop_scales == [1.0, 0.5]
    assert p.runtime.progress is False
    # YAML 1.1 reads on/off as booleans; the on/off choices still take them
    p = load_protocol("smoke", ["runtime.amp=off", "runtime.compile=on"])
    assert p.runtime.amp == "off" and p.runtime.compile == "on"
    with pytest.raises(BenchError, match="runtime.amp"):
        load_protocol("smoke", ["runtime.amp=on"])


@pytest.mark.parametrize("override, message", [
    ("pretrain.epoch=3", "unknown key pretrain.epoch"),
    ("pretrain.epochs=abc", "key pretrain.epochs must be an integer"),
    ("pretrain.epochs=2.5", "key pretrain.epochs must be an integer"),
    ("finetune.flip=1", "key finetune.flip must be true/false"),
    ("pretrain.mask_ratio=1.5", "key pretrain.mask_ratio must be <= 0.99"),
    ("clip.frames=0", "key clip.frames must be > 0"),
    ("model.size=giant", "key model.size must be one of"),
    ("pretrain.betas=[0.9]", "key pretrain.betas must be a list of 2 values"),
    ("nonsense=1", "unknown key nonsense"),
    ("pretrain=3", "key pretrain must be"),
    ("pretrain.epochs.x=3", "pretrain.epochs is not a section"),
    ("noequals", "must look like section.key=value"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key(override, message):
    with pytest.raises(BenchError) as err:
        load_protocol("smoke", [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_protocol_and_bad_files(tmp_path):
    with pytest.raises(BenchError, match="unknown protocol 'nope'"):
        load_protocol("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(BenchError, match="is not valid YAML"):
        load_protocol(str(bad))
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(BenchError, match="inherits from itself"):
        load_protocol(str(loop))


def test_protocol_file_with_relative_base(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: smoke\ndescription: mine\npretrain:\n  epochs: 1\n")
    (tmp_path / "child.yaml").write_text("base: mine.yaml\nfinetune:\n  epochs: 7\n")
    p = load_protocol(str(tmp_path / "child.yaml"))
    assert (p.pretrain.epochs, p.finetune.epochs, p.model.size, p.description) == (1, 7, "tiny", "mine")


def test_stable_hash_is_canonical():
    a = stable_hash({"b": 1, "a": (1.0, 2)})
    assert a == stable_hash({"a": [1.0, 2], "b": 1})
    assert a != stable_hash({"a": [1.0, 2], "b": 2})
    assert len(a) == 16
    p1 = load_protocol("smoke")
    same = load_protocol("smoke", [f"pretrain.epochs={p1.pretrain.epochs}"])
    assert stable_hash(p1) == stable_hash(same)  # same resolved values, same hash
    assert stable_hash(p1) != stable_hash(load_protocol("smoke", [f"pretrain.epochs={p1.pretrain.epochs + 1}"]))


def test_build_rejects_wrong_nested_types():
    with pytest.raises(BenchError, match="key model must be a mapping"):
        build(Protocol, {"model": 3}, "")


def test_every_protocol_resolves_into_a_run():
    from benchmark.run import resolve
    for name in config.protocol_names():
        spec = resolve(name, "natural", None, 0, ["task.data_root=/nonexistent"]
                       if load_protocol(name).task != "embedded" else [])
        assert len(spec.config_hash()) == 16 and spec.keys["pretrain"] is not None


def test_one_place_for_defaults(tmp_path):
    """A protocol without `base:` and one with `base: videomae` are the same recipe: the schema's defaults."""
    (tmp_path / "bare.yaml").write_text("description: no base\n")
    (tmp_path / "based.yaml").write_text("base: videomae\ndescription: no base\n")
    bare, based = (to_dict(load_protocol(str(tmp_path / n))) for n in ("bare.yaml", "based.yaml"))
    assert {**bare, "name": ""} == {**based, "name": ""}
    v = load_protocol("videomae")
    assert (v.pretrain.batch_size, v.finetune.batch_size, v.finetune.repeated_aug, v.finetune.base_lr) == \
        (2048, 512, 1, 1e-3)  # one official script pair: K400 ViT-B, 800 epochs
