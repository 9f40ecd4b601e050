"""Config hashes are the resume keys of every results folder: they must never drift.

The values below were computed from the code before ``RunConfig`` held typed sections
(issue #17); a change to ``RunConfig.to_dict`` that moves any of them would make every
committed reference folder (``results/reference/<preset>``) start over.
Each entry is (number of runs, digest of all hashes in order, the first 20 hashes).
"""

import hashlib
from pathlib import Path

import pytest
from _tiny import tiny

from bench import store
from bench.sweep.config import RunConfig
from bench.sweep.load import build_sweep, load_sweep, presets

RESULTS = Path(__file__).resolve().parents[3] / "results" / "reference"

PRESET_HASHES = {
    "attention-memory": (2, "cbcacad9f20570c3", ["86d8a41172b57071", "83c976409a39ce67"]),
    "copy": (
        15,
        "d192c5b53b89a9b2",
        [
            "95ad6e3fc1ccdc26",
            "dc55342defd6edb8",
            "c84d64e6dfd041fc",
            "75dbd7ee058fd574",
            "127a952a44b92436",
            "21b18f15350f136c",
            "7644e0e4aac1422a",
            "46dfa937ba26a834",
            "fbf6bbfbf9630a98",
            "5b0a32a8d7e84022",
            "929a03e89c12894d",
            "d8dc4fe6cbba3615",
            "5f96ca5911cc45bf",
            "fc2fd6fe95382620",
            "d8fadaeb1e163c64",
        ],
    ),
    "generate": (
        6,
        "2da3a0f139ca7d37",
        [
            "8235342b7204b365",
            "f206121bd6ff7018",
            "973292562476a308",
            "0a186887ddb74efc",
            "1538291fe89b0e54",
            "57b3d4cf81f61876",
        ],
    ),
    "generate-gpu": (2, "c24c8eabe0439294", ["2c901344d5898511", "99404afe24bcf58f"]),
    "induction": (
        5,
        "681caa8f41c80610",
        [
            "98a2e66eac53fe91",
            "6809cab68a7968d5",
            "e4da6166ccc43d21",
            "3f265a8d38433dce",
            "05c0b283f9b3394a",
        ],
    ),
    "mqar": (
        320,
        "722ce87426891186",
        [
            "739b90b60987efc8",
            "5bd0b81027bccd6f",
            "dff0993d7fc8d2bd",
            "0a8d242dcf30274c",
            "f609d6fb6c6294d7",
            "4dcbe3eb7612f8f2",
            "8364c602643cec6a",
            "2a67ca1e796934fd",
            "b4d020e20a37fe22",
            "c204cb0cfec06923",
            "a54dca52628b5df5",
            "8a2818d2da9c3785",
            "09f25e80ab892752",
            "4a5a6f032a5e7c5f",
            "251ad03b3a7157e9",
            "0e42189ec99def84",
            "4e1b35ca783fcdab",
            "28e45872bf3625e4",
            "ffe2a31140349b0a",
            "1be972077c8de1ba",
        ],
    ),
    "needle": (
        5,
        "6369b4d1d4715a0a",
        [
            "060d403e1cd3d840",
            "6db70cb63adadc58",
            "508afe272bddf3ba",
            "13c7f09963d17708",
            "ae1401c4f405a293",
        ],
    ),
    "papers-cpu": (
        117,
        "2dc547e9bdd2b033",
        [
            "649b0490100bf88a",
            "db40f0f2d5346aa1",
            "560747d847b25e0e",
            "042cd2177a8e6438",
            "ae1b2500b22f7566",
            "b86d83d0f6bef639",
            "1b3dc7fadb68a385",
            "74cf592c164b402c",
            "6100ac52334f634c",
            "4e4a549ca4c84d01",
            "8dbb461e26142b71",
            "15a7e4230aa93138",
            "2210c373c4a23259",
            "3a1bf5bd44aca186",
            "710b1b366169e4d1",
            "cbd479a7ed8a2c25",
            "2d82a2f7284b13ce",
            "c61d3ec3801c28e2",
            "12cd3270eca81fdb",
            "a8746e43d90e8324",
        ],
    ),
    "quick": (
        25,
        "c757f944a6877302",
        [
            "36d5c0c508c1bf5e",
            "f5449a6a8d3b4635",
            "f1d85637eb792738",
            "30b70cf750f60853",
            "d12537881fe9a00b",
            "e64ac5fe22ea4563",
            "20a855988b39de32",
            "9a97b430e31053e0",
            "11445ff846a19f44",
            "a382a5ae34c96e2e",
            "a6f893274616c581",
            "e98caf6c124bd721",
            "2e62b3805b62ef3f",
            "c0783920665ba141",
            "67b72fded340e3a1",
            "a1ab64a2c7b312ce",
            "dcb71d4ccb6dc120",
            "dbe86ccc6b26c912",
            "cbdd2a88ad32370e",
            "23be7421680e1754",
        ],
    ),
    "scaling": (
        5,
        "795d839736805c24",
        [
            "074099d7963e7a16",
            "1308f8f048903fa3",
            "8454ef31739c17f2",
            "960037a211b2eb55",
            "7cde4ca0b80b51bb",
        ],
    ),
    "selective-copy": (
        5,
        "db1571e25d613836",
        [
            "f6689eb17d543b38",
            "d256eac77350f89c",
            "acf8059142fc0a1b",
            "1cceb13a364d9b59",
            "3082892480a192c8",
        ],
    ),
    "text": (
        36,
        "d25b70b232190abb",
        [
            "ba3989aa9b3ae305",
            "0a9ca1c6169659df",
            "0ba4962a32756d46",
            "dc324230eb23abae",
            "4daa3647c9d25a32",
            "f44b60a81d2c7cec",
            "2b6cbaa4efea9abc",
            "e4f6b8eca784cdc0",
            "90e263e69e725b5e",
            "defa9e6fda36648a",
            "c25fd9f05bd3430c",
            "e137ad9516a221ff",
            "3ba500c97bc868c7",
            "9c8c0abfb63d9395",
            "abdee10d415482d7",
            "23fd486310e2f217",
            "a6fea226cab8bdb7",
            "41721a07a0d4a089",
            "731f508e53f6dbf5",
            "e3ec3b525acebb53",
        ],
    ),
    "text-gpu": (
        36,
        "08eb305cd1c381fa",
        [
            "ee7094b903161f0e",
            "f4e8bd3a68ade0a7",
            "84764bbbbf9ce2bb",
            "c327a449e452f7e0",
            "e475ee9ede73bfa3",
            "68f391277ef243b0",
            "00d9400629fdfe94",
            "f9ea2a7c0aa25d5c",
            "e6b061e6b15164a5",
            "f783f75bc23f0191",
            "4daa17e16169e7e3",
            "d782b5101c763907",
            "e0d96e6f764964b4",
            "d0216aced3f62e4f",
            "afee8eed6af8aabe",
            "e76b5c549f17825f",
            "889abbbc524bf082",
            "2fbbbf284174756d",
            "13532884aa542deb",
            "1055ca0d6078f0b1",
        ],
    ),
    "width": (
        35,
        "102291b23188ab38",
        [
            "239410a8308d62a2",
            "6ec0c24ee5d25db6",
            "2bb1d2b3386e8bcd",
            "8f14d3d8b90dd970",
            "e4f592c982bb1272",
            "4c400e6b84eb4b67",
            "d0d6b7b6d8b5163a",
            "ac42dd91e959014c",
            "4d6996c3921c4cbb",
            "d0428cca3ca6f095",
            "43311ee122dfad7b",
            "1024257757ffaba8",
            "08a8ee15e4cc4931",
            "b0c42f3a0f05dbd1",
            "759b3df8d15322b2",
            "9f438bc62ed17869",
            "ead8602353269fb4",
            "a949317fef354b26",
            "3e56b840f25ebd05",
            "2fdf1282c35888bc",
        ],
    ),
}

# Every committed reference folder: complete, and its records read back to their hashes.
REFERENCE_FOLDERS = ["quick", "scaling", "width", "attention-memory", "generate", "papers-cpu"]

TINY_SWEEPS = {
    "tiny": tiny(),
    "tiny-cost": tiny(kind="cost", measure={"seq_lens": [8, 16, 32, 64]}),
    "tiny-matched": tiny(model={"params": 20000, "params_tolerance": 0.2}),
    "tiny-no-cost": tiny(measure={"cost": False}),
    "tiny-per-task": tiny(
        grid={"task": ["copy", "induction"], "train.lr": [1e-3, 3e-3]},
        train={"copy": {"seq_len": 14}},
        eval={"depths": [0.5]},
    ),
}

TINY_HASHES = {
    "tiny": (
        2,
        "c14d9db3f0336b05",
        [
            "abd3fbc6b45d4ee1",
            "d1777b321c70cbdb",
        ],
    ),
    "tiny-cost": (
        2,
        "27b2b2bee27716fd",
        [
            "b8449c3cd6379359",
            "569f3b85817ad904",
        ],
    ),
    "tiny-matched": (
        2,
        "8c8f08060b1695de",
        [
            "8c34ec72dd3c02f5",
            "37b65a2f149f1312",
        ],
    ),
    "tiny-no-cost": (
        2,
        "62b70f9273c0fda8",
        [
            "50e3ffaf80a9a6b8",
            "e6fe67fa78323c7d",
        ],
    ),
    "tiny-per-task": (
        8,
        "89ab0eb48ebf5443",
        [
            "c04965969c30e061",
            "f4c18b87ca1bd6ae",
            "721fb10096f664bc",
            "83597e4a5389627d",
            "bb4be382b9aa987d",
            "05cbdacdc3228d63",
            "01633b1eb4e4af46",
            "daf441b226b37a87",
        ],
    ),
}


def _digest(hashes: list[str]) -> str:
    return hashlib.sha256(",".join(hashes).encode()).hexdigest()[:16]


def _check(runs: list[RunConfig], expected: tuple[int, str, list[str]]) -> None:
    hashes = [run.hash for run in runs]
    count, digest, first = expected
    assert hashes[: len(first)] == first
    assert (len(hashes), _digest(hashes)) == (count, digest)


def test_every_preset_is_pinned():
    assert set(PRESET_HASHES) == set(presets())


@pytest.mark.parametrize("name", sorted(PRESET_HASHES))
def test_preset_hashes_are_unchanged(name):
    _check(load_sweep(name, device="cpu", check_device=False).runs, PRESET_HASHES[name])


@pytest.mark.parametrize("name", sorted(TINY_HASHES))
def test_tiny_sweep_hashes_are_unchanged(name):
    _check(build_sweep({**TINY_SWEEPS[name], "device": "cpu"}).runs, TINY_HASHES[name])


@pytest.mark.parametrize("name", sorted(TINY_HASHES))
def test_a_config_survives_the_trip_through_a_record(name):
    for run in build_sweep({**TINY_SWEEPS[name], "device": "cpu"}).runs:
        again = RunConfig.from_dict(run.to_dict())
        assert again == run and again.hash == run.hash and again.to_dict() == run.to_dict()


@pytest.mark.parametrize("name", REFERENCE_FOLDERS)
def test_committed_results_resume(name):
    finished = store.finished(RESULTS / name)
    assert finished, f"results/{name} has no finished runs to check"
    planned = {run.hash for run in load_sweep(name, device="cpu", check_device=False).runs}
    assert finished == planned, (
        "a reference folder is complete: running its preset there runs nothing"
    )


@pytest.mark.parametrize("name", REFERENCE_FOLDERS)
def test_records_on_disk_read_back_to_the_same_hash(name):
    for record in store.read_runs(RESULTS / name, quiet=True):
        assert RunConfig.from_dict(record["config"]).hash == record["config_hash"]
