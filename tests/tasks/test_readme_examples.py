"""The README's worked examples of the order and distance options are what the tasks make."""

from pathlib import Path

import torch

import tasks

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def render(name: str, config: dict, seq_len: int, seed: int) -> tuple[str, list[int]]:
    task = tasks.create(name, **config)
    batch = task.sample(1, seq_len, torch.Generator().manual_seed(seed))
    scored = [int(t) for t in batch.targets[0] if t >= 0]
    return task.render(batch.inputs[0]), scored


def test_set_disjointness_example():
    text, answer = render(
        "set_disjointness", {"small_size": 2, "large_size": 3, "vocab_size": 12}, 10, 1
    )
    assert f"`{text}` → target `7` at the last position" in README and answer == [7]


def test_question_first_mqar_example():
    config = {"vocab_size": 16, "n_pairs": 3, "random_filler": False, "question_first": True}
    text, answer = render("mqar", config, 16, 0)
    assert f"`{text}` → targets `8` at 9, `10` at 11, `12` at 13" in README
    assert answer == [8, 10, 12]


def test_induction_at_a_distance_example():
    text, answer = render("induction", {"distance": 4}, 10, 4)
    assert f"`{text}` → target `11` at the last position" in README and answer == [11]
