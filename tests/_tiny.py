"""A sweep small enough to run many times in the test suite."""

import copy

TINY = {
    "name": "tiny",
    "grid": {"architecture": ["transformer", "lstm"], "task": ["copy"], "seed": [0]},
    "model": {"d_model": 16, "n_layers": 1},
    "train": {"seq_len": 12, "steps": 6, "batch_size": 4, "warmup": 2, "log_every": 2},
    "eval": {"n": 8, "val_n": 8, "batch_size": 4, "seq_lens": [12, 20]},
    "measure": {"batch_size": 2, "repeats": 1, "warmup": 0, "decode_steps": 1},
}


def tiny(**changes):
    """TINY with top-level sections updated: tiny(train={"steps": 3})."""
    raw = copy.deepcopy(TINY)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key].update(value)
        else:
            raw[key] = value
    return raw


def write_toml(path, raw):
    import tomli_w

    path.write_text(tomli_w.dumps(raw))
    return path
