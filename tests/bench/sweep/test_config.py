import pytest
from _tiny import tiny, write_toml

from bench.sweep.config import SweepConfigError
from bench.sweep.load import build_sweep, load_sweep, parse_override, presets


def test_grid_is_the_cartesian_product_of_axes():
    sweep = build_sweep(tiny(grid={"task": ["copy", "induction"], "seed": [0, 1]}))
    assert len(sweep.runs) == 2 * 2 * 2
    assert {(r.architecture, r.task, r.seed) for r in sweep.runs} == {
        (a, t, s) for a in ("transformer", "lstm") for t in ("copy", "induction") for s in (0, 1)
    }


def test_dotted_grid_axis_sets_the_setting():
    sweep = build_sweep(tiny(grid={"train.seq_len": [12, 16], "model.d_model": [16, 32]}))
    assert sorted({(r.train.seq_len, r.model.d_model) for r in sweep.runs}) == [
        (12, 16),
        (12, 32),
        (16, 16),
        (16, 32),
    ]


def test_per_task_and_per_architecture_tables_apply_only_to_their_target():
    raw = tiny(
        grid={"task": ["copy", "induction"]},
        train={"copy": {"seq_len": 18}},
        model={"transformer": {"n_heads": 2}},
        task={"induction": {"vocab_size": 12}},
    )
    runs = {(r.architecture, r.task): r for r in build_sweep(raw).runs}
    assert runs["lstm", "copy"].train.seq_len == 18
    assert runs["lstm", "induction"].train.seq_len == 12
    assert runs["transformer", "copy"].model.arch == {"n_heads": 2}
    assert runs["lstm", "copy"].model.arch == {}
    assert runs["lstm", "induction"].task_config == {"vocab_size": 12}


def test_eval_lengths_default_to_training_length():
    raw = tiny()
    raw["eval"].pop("seq_lens")
    assert all(r.eval.seq_lens == [12] for r in build_sweep(raw).runs)


def test_hash_is_stable_and_changes_with_the_config():
    a = build_sweep(tiny()).runs
    b = build_sweep(tiny()).runs
    assert [r.hash for r in a] == [r.hash for r in b]
    c = build_sweep(tiny(grid={"seed": [1]})).runs
    assert not {r.hash for r in a} & {r.hash for r in c}
    renamed = build_sweep(tiny(name="other")).runs  # the sweep's name is not part of a run
    assert [r.hash for r in renamed] == [r.hash for r in a]


def test_overrides_parse_toml_values_and_dotted_keys():
    assert parse_override("train.steps=200") == (["train", "steps"], 200)
    assert parse_override("train.lr=1e-3") == (["train", "lr"], 1e-3)
    assert parse_override('grid.architecture=["lstm"]') == (["grid", "architecture"], ["lstm"])
    assert parse_override("grid.train.seq_len=[8, 16]") == (["grid", "train.seq_len"], [8, 16])
    assert parse_override("name=my-sweep") == (["name"], "my-sweep")
    runs = build_sweep(tiny(), overrides=["train.steps=2", "model.lstm.d_hidden=8"]).runs
    assert {r.train.steps for r in runs} == {2}
    assert {r.architecture: r.model.arch for r in runs} == {
        "transformer": {},
        "lstm": {"d_hidden": 8},
    }


def test_every_preset_validates():
    for name in presets():
        sweep = load_sweep(name, device="cpu")
        assert sweep.runs, name


# Built-ins the main job leaves to the presets that measure them, each with its reason.
NOT_IN_QUICK = {
    "rwkv4": "Zoology's RWKV: measured where recall capacity binds (the mqar presets)",
    "set_disjointness": "prompt order needs its own pairs of runs (order as an axis)",
    "text": "language modelling needs thousands of steps per run",
}


def test_quick_preset_covers_every_architecture_and_task_but_those_named():
    sweep = load_sweep("quick")
    import architectures
    import tasks

    blocks = {n for n in architectures.names() if architectures.built_in(n)}
    families = {n for n in tasks.names() if tasks.built_in(n)}
    assert {r.architecture for r in sweep.runs} == blocks - set(NOT_IN_QUICK)
    assert {r.task for r in sweep.runs} == families - set(NOT_IN_QUICK)


def test_load_sweep_from_file(tmp_path):
    path = write_toml(tmp_path / "s.toml", tiny())
    assert len(load_sweep(str(path), ["grid.seed=[0,1,2]"]).runs) == 6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"train": {"stpes": 5}}, "unknown key 'train.stpes'"),
        ({"train": {"steps": "many"}}, "train.steps='many'"),
        ({"train": {"steps": -1}}, "train.steps=-1"),
        ({"train": {"lr": 0}}, "train.lr=0"),
        ({"train": {"schedule": "wiggly"}}, "train.schedule='wiggly'"),
        ({"train": {"dtype": "float16"}, "device": "cpu"}, "float16"),
        ({"eval": {"seq_lens": [0]}}, "eval.seq_lens contains 0"),
        ({"eval": {"depths": [1.5]}}, "depths contains 1.5"),
        ({"grid": {"architecture": ["mamab"]}}, "grid.architecture contains 'mamab'; available:"),
        ({"grid": {"task": ["cpy"]}}, "grid.task contains 'cpy'; available:"),
        ({"grid": {"seed": [-1]}}, "grid.seed contains -1"),
        ({"grid": {"colour": [1]}}, "unknown grid axis 'colour'"),
        ({"grid": {"architecture": []}}, "grid is empty"),
        ({"model": {"d_model": 0}}, "model.d_model=0"),
        ({"model": {"transformer": {"n_heads": 5}}}, "d_model=16 must be divisible by n_heads=5"),
        ({"model": {"transformer": {"n_head": 2}}}, "no setting 'n_head'"),
        ({"model": {"gpt": {"n_heads": 2}}}, "unknown key 'model.gpt'"),
        ({"task": {"copy": {"alphabet": 0}}}, "task.copy: alphabet=0"),
        ({"task": {"copy": {"letters": 3}}}, "task.copy:"),
        ({"task": {"cpy": {}}}, "unknown key 'task.cpy'"),
        ({"train": {"seq_len": 2}}, "too short"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_config_names_key_value_and_rule(changes, message):
    raw = tiny()
    for key, value in changes.items():
        if key == "grid":
            raw["grid"].update(value)
        elif isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key].update(value)
        else:
            raw[key] = value
    with pytest.raises(SweepConfigError, match=None) as info:
        build_sweep(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_preset_lists_presets():
    with pytest.raises(
        SweepConfigError, match=r"no preset or config file 'quik'; presets: .*quick"
    ):
        load_sweep("quik")


def test_malformed_override_and_toml(tmp_path):
    with pytest.raises(SweepConfigError, match="KEY=VALUE"):
        load_sweep("quick", ["train.steps"])
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(SweepConfigError, match="not valid TOML"):
        load_sweep(str(bad))


def test_cuda_device_without_gpu_is_an_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SweepConfigError, match="no CUDA device"):
        build_sweep(tiny(device="cuda"))


def test_parameter_matching_records_the_chosen_width_and_rejects_impossible_targets():
    runs = build_sweep(tiny(model={"params": 80_000})).runs
    widths = {r.architecture: r.model.d_model for r in runs}
    assert widths["transformer"] != widths["lstm"]
    with pytest.raises(SweepConfigError, match="cannot be matched within 5%"):
        build_sweep(tiny(model={"params": 20_000}))
