"""The house in rooms: ``bench``'s subpackages import only rooms below their own, the wings
``architectures`` and ``tasks`` never import ``bench`` or each other, and nothing a terminal
command needs imports matplotlib (docs/design.md, "Layers")."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Bottom to top: a room may import its own modules and any room listed before it.
ROOMS = [
    "sweep",
    "store",
    "analysis",
    "run",
    "launch",
    "plots",
    "compare",
    "report",
    "doctor",
    "cli",
]
WINGS = {"architectures": {"seqbench"}, "tasks": {"seqbench"}, "seqbench": set()}


def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved), lazy ones too."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bench" and len(parts) > 1 and parts[1] in ROOMS else None


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_every_module_of_bench_lives_in_a_room():
    loose = [p.name for p in (ROOT / "bench").glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the rooms: {loose}"
    assert sorted(
        p.name for p in (ROOT / "bench").iterdir() if (p / "__init__.py").exists()
    ) == sorted(ROOMS)


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_rooms_below_it(room):
    allowed = set(ROOMS[: ROOMS.index(room) + 1])
    arrows = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _files(f"bench/{room}")
        for module in _imports(path)
        if (target := _room(module)) is not None and target not in allowed
    ]
    assert arrows == []


@pytest.mark.parametrize("wing", sorted(WINGS))
def test_the_wings_import_no_other_wing(wing):
    others = {"architectures", "tasks", "bench", "seqbench"} - {wing} - WINGS[wing]
    arrows = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _files(wing)
        for module in _imports(path)
        if module.split(".")[0] in others
    ]
    assert arrows == []


def test_analysis_never_imports_plotting():
    arrows = [
        f"{path.relative_to(ROOT)} imports {module}"
        for room in ("sweep", "store", "analysis", "run", "launch")
        for path in _files(f"bench/{room}")
        for module in _imports(path)
        if module.split(".")[0] in ("matplotlib", "seaborn") or _room(module) == "plots"
    ]
    assert arrows == []


def test_a_terminal_command_never_loads_matplotlib(tmp_path):
    """`seqbench list`, a dry run and the summary table of a results folder run without
    matplotlib: loading it would cost a second per command and say the layers leak."""
    script = (
        "import sys\n"
        "from bench.cli.app import app\n"
        "for args in (['list'], ['run', 'quick', '--dry-run'], ['run', 'quick', '--dry-run', '--out', sys.argv[1]]):\n"
        "    app(args, standalone_mode=False)\n"
        "from bench.launch.summary import summary_table\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'seaborn'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
