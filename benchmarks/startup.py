"""Cold start: what a person waits for before the first line of output.

Each measure runs in a **fresh child process** (nothing imported, nothing cached but the
operating system's file cache), and is timed by this process around the child, from
``exec`` to exit. The measures take turns round by round, so that load from other
processes falls on all of them alike; each figure is the median over ``--rounds``.

- **interpreter**: ``python -c pass`` — the floor no command can go under;
- **validate**: ``cmc-workflow validate workflows/ policies/``, the console script;
- **Engine.open**: ``Engine.open("sqlite:///FILE", workflows=..., policies=...)`` on a
  SQLite file migrated beforehand, then ``close()``, in ``python -c`` (imports included);
- **import cmc_workflow.cli**: the command line's entry module alone.

Each row gives the wall clock (median, min, max) and the child's CPU time (user +
system, median), which a busy machine inflates less than the wall clock; with
``--compare``, this tree's figures over the other tree's (median, min and CPU: on a busy
machine the min and the CPU time are the steadier estimates). The child of
``Engine.open`` also reports its own split: the imports, the call, their CPU time,
``close()``, and the rest (``close()``, the interpreter starting and shutting down, which
the embedding program pays whatever it imported), the rest split again by the wall clock
(``time.time()``, read by this process around the child and by the child on its first and
last lines) into the start, up to the child's first line, and the exit, after its last:
the exit is Python's finalization, whose cyclic collections visit and free every object
the imports made (see docs/performance-history.md, "Round 5: perf-open5").

Python reads each module from its cached bytecode, as in any installed copy (pip
compiles it at install; a checkout writes ``__pycache__`` on first use): the children
run without ``PYTHONDONTWRITEBYTECODE`` and keep their cache in the temporary folder
(``PYTHONPYCACHEPREFIX``), filled by one untimed run of each measure. With
``--no-bytecode-cache`` every child compiles every module from source instead, which is
what a session with ``PYTHONDONTWRITEBYTECODE=1`` pays on each start.

``--compare PATH`` runs every measure a second time, in the same rounds, with another
source tree of cmc-workflow first on ``PYTHONPATH`` (e.g. ``git archive main | tar -x -C
/tmp/main``): before and after, on the same machine at the same moment, and the ratio.
With ``--imports N``, each command runs once more under ``python -X importtime``, the cyclic
collector paused, and the N top-level packages that cost it most (their modules' own
import time, summed) are printed: where to look when a figure grows.

Usage::

    python benchmarks/startup.py [--rounds 7] [--compare PATH] [--imports 12]
                                 [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SCRIPT = str(Path(PYTHON).parent / "cmc-workflow")
WORKFLOWS, POLICIES = str(ROOT / "workflows"), str(ROOT / "policies")
NEUTRAL = tempfile.gettempdir()

_OPEN = """\
import json, sys, time
began, started = time.time(), time.perf_counter()
from cmc_workflow import Engine
Engine.open  # the name resolves lazily: this imports the engine
imported = time.perf_counter()
engine = Engine.open(sys.argv[1], workflows=sys.argv[2], policies=sys.argv[3])
opened, cpu = time.perf_counter(), time.process_time()
engine.close()
closed = time.perf_counter()
split = {"imports": imported - started, "open": opened - imported, "cpu": cpu,
         "close": closed - opened, "began": began, "ended": time.time()}
print(json.dumps(split), file=sys.stderr)
"""

INTERPRETER = "interpreter (python -c pass)"
VALIDATE = "cmc-workflow validate workflows/ policies/"
OPEN = "Engine.open on a migrated SQLite file"
IMPORT_CLI = "import cmc_workflow.cli"


def _commands(db_url: str) -> dict[str, list[str]]:
    return {
        INTERPRETER: [PYTHON, "-c", "pass"],
        VALIDATE: [SCRIPT, "validate", WORKFLOWS, POLICIES],
        OPEN: [PYTHON, "-c", _OPEN, db_url, WORKFLOWS, POLICIES],
        IMPORT_CLI: [PYTHON, "-c", "import cmc_workflow.cli"],
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


SPAN = [0.0, 0.0]
"""When the last child :func:`_run` ran was started and had exited (``time.time()``):
with the times the child of ``Engine.open`` reads on its first and last lines, they split
its "rest" into the interpreter's start and its exit."""

BYTECODE: dict[str, str] = {}
"""The children's bytecode settings: ``PYTHONPYCACHEPREFIX`` (set by :func:`main`), or
``PYTHONDONTWRITEBYTECODE``."""


def _run(argv: list[str], tree: str | None) -> tuple[float, float, str]:
    """Seconds from start to exit of one child (run with ``tree`` first on the module
    path when given, in a folder with no package in it: ``python -c`` puts its working
    directory first), the CPU seconds it used, and its stderr. The wall-clock times
    (``time.time()``) the child was started and had exited are left in :data:`SPAN`."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"):
        env.pop(name, None)
    env.update(BYTECODE)
    if tree is not None:
        env["PYTHONPATH"] = tree
    cpu, started, SPAN[0] = _cpu(), time.perf_counter(), time.time()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=NEUTRAL, env=env)
    seconds, cpu, SPAN[1] = time.perf_counter() - started, _cpu() - cpu, time.time()
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, cpu, done.stderr


def _migrated(folder: Path, tree: str | None) -> str:
    """A SQLite file migrated to the head revision, with the bundle's versions stored."""
    url = f"sqlite:///{folder / 'startup.db'}"
    _run([PYTHON, "-c", _OPEN, url, WORKFLOWS, POLICIES], tree)
    return url


_PAUSED = "import gc; gc.disable()\n"
"""Put before each ``-X importtime`` child's code: a pass of the cyclic collector (10-20 ms
once the heap is big) is otherwise counted as the own time of whichever module happened to
be importing, so a package's tally moved by that much from one run to the next."""


def _importtime(argv: list[str], tree: str | None, top: int) -> list[tuple[str, float]]:
    """The ``top`` packages by their modules' own import time (ms) in one run of ``argv``,
    the collector paused (:data:`_PAUSED`): what each module's own code costs."""
    if argv[0] == SCRIPT:
        argv = [PYTHON, "-c", "from cmc_workflow.cli import main; main()", *argv[1:]]
    assert argv[1] == "-c", argv  # every measure is python -c CODE ARGS...
    code = _PAUSED + argv[2]
    _seconds, _cpu_seconds, stderr = _run([PYTHON, "-X", "importtime", "-c", code, *argv[3:]], tree)
    spent: collections.Counter[str] = collections.Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = (part.strip() for part in line[12:].split("|"))
        parts = name.split(".")
        spent[".".join(parts[:2]) if parts[0] == "cmc_workflow" else parts[0]] += int(own)
    return [(name, us / 1000) for name, us in spent.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", metavar="PATH", help="another source tree to measure")
    parser.add_argument("--imports", type=int, default=0, metavar="N")
    parser.add_argument("--no-bytecode-cache", action="store_true")
    args = parser.parse_args()
    # this tree's package first on the path too: an installed or editable copy elsewhere
    # must not stand in for the tree the script lives in
    trees: dict[str, str | None] = {"this tree": str(ROOT)}
    if args.compare:
        trees[args.compare] = str(Path(args.compare).resolve())

    with tempfile.TemporaryDirectory(prefix="cmc-startup-") as tmp:
        if args.no_bytecode_cache:
            BYTECODE["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            BYTECODE["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        commands: dict[str, dict[str, list[str]]] = {}
        for n, (side, tree) in enumerate(trees.items()):
            folder = Path(tmp) / str(n)
            folder.mkdir()
            commands[side] = _commands(_migrated(folder, tree))
            for argv in commands[side].values():
                _run(argv, tree)  # untimed: fills the bytecode cache, warms the file cache
        wall: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        cpu: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        splits: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
        for _ in range(args.rounds):
            for name in commands["this tree"]:
                for side, tree in trees.items():
                    seconds, cpu_seconds, stderr = _run(commands[side][name], tree)
                    wall[side, name].append(seconds)
                    cpu[side, name].append(cpu_seconds)
                    if name == OPEN:
                        split = json.loads(stderr.strip().splitlines()[-1])
                        start, end = split["began"] - SPAN[0], SPAN[1] - split["ended"]
                        splits[side].append({**split, "wall": seconds, "start": start, "exit": end})

        load = os.getloadavg()[0]
        bytecode = "compiled from source" if args.no_bytecode_cache else "cached bytecode"
        print(
            f"{args.rounds} rounds, {bytecode}; python {platform.python_version()}, "
            f"{os.cpu_count()} cpus, load average {load:.1f} at the end"
        )
        header = f"{'fresh process':<44}{'tree':<12}{'median s':>9}{'min s':>7}{'max s':>7}"
        ratios = f"{'x median':>9}{'x min':>7}{'x cpu':>7}" if args.compare else ""
        print(header + f"{'cpu s':>7}" + ratios)
        for name in commands["this tree"]:
            for side in trees:
                values = wall[side, name]
                line = (
                    f"{name:<44}{side[:11]:<12}{statistics.median(values):>9.3f}"
                    f"{min(values):>7.3f}{max(values):>7.3f}"
                    f"{statistics.median(cpu[side, name]):>7.3f}"
                )
                if args.compare and side == "this tree":
                    other, other_cpu = wall[args.compare, name], cpu[args.compare, name]
                    line += (
                        f"{statistics.median(values) / statistics.median(other):>9.2f}"
                        f"{min(values) / min(other):>7.2f}"
                        f"{statistics.median(cpu[side, name]) / statistics.median(other_cpu):>7.2f}"
                    )
                print(line)
        heads = "".join(f"{side[:11] + ' med (min)':>22}" for side in trees)
        print(f"\n  {'Engine.open inside the child, s':<36}{heads}")
        rows = {
            "imports": lambda s: s["imports"],
            "the call": lambda s: s["open"],
            "imports + the call": lambda s: s["imports"] + s["open"],
            "imports + the call, CPU": lambda s: s["cpu"],
            "close()": lambda s: s["close"],
            "start and exit of the interpreter": lambda s: s["wall"] - s["imports"] - s["open"],
            "  start (to the first line)": lambda s: s["start"],
            "  exit (after the last line)": lambda s: s["exit"],
        }
        for label, part in rows.items():
            line = f"  {label:<36}"
            for side in trees:
                values = [part(s) for s in splits[side]]
                line += f"{statistics.median(values):>14.3f} ({min(values):.3f})"
            print(line)

        if args.imports:
            for side, tree in trees.items():
                for name, argv in commands[side].items():
                    if name == INTERPRETER:
                        continue
                    top = _importtime(argv, tree, args.imports)
                    print(f"\nimports of {name} ({side}; ms, own time by package, no GC):")
                    print("  " + ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in top))


if __name__ == "__main__":
    main()
