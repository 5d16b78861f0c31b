"""Loading the bundled definitions, against plain PyYAML parsing of the same files.

What an administrator waits for on ``cmc-workflow validate`` and a runner on start: every
file of ``workflows/`` and ``policies/`` read with places, validated by the models, checked
alone and against each other. Three measurements, each the median of ``--rounds`` runs:

- **first load in a fresh interpreter** (``python -c``): imports included, nothing cached —
  the fair figure for a command-line run;
- **load in a warm process**: ``language.load_paths`` again and again (a daemon's reload);
- **the composer alone**: composing every file with the C composer (libyaml) and with the
  pure-Python one, which is what cmc-workflow used before issue 11.

The baseline, run in the same process and the same rounds: ``yaml.load`` of every file with
PyYAML's ``CSafeLoader`` (or ``SafeLoader`` without libyaml) — plain parsing with no places,
no validation and no checks. Ratios are ours over the baseline (lower is better).

Usage::

    python benchmarks/loading.py [--rounds 9] [PATHS...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = [str(ROOT / "workflows"), str(ROOT / "policies")]


def _median_seconds(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _fresh_load(paths: list[str]) -> float:
    code = (
        "import time, sys\n"
        "t = time.perf_counter()\n"
        "from cmc_workflow.language import load_paths\n"
        f"loaded = load_paths({paths!r})\n"
        "assert not loaded.problems, loaded.problems[:3]\n"
        "print(time.perf_counter() - t)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    from cmc_workflow.language import iter_yaml_files, load_paths
    from cmc_workflow.located import C_LOADER, load_located

    files = [(str(p), p.read_text(encoding="utf-8")) for p in iter_yaml_files(args.paths)]
    loader = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader

    def baseline() -> None:
        for _name, text in files:
            yaml.load(text, Loader=loader)  # the safe loader, as a yardstick

    def compose(pure: bool) -> Callable[[], None]:
        def run() -> None:
            for name, text in files:
                load_located(text, name, pure=pure)

        return run

    base = _median_seconds(baseline, args.rounds)
    fresh = statistics.median(_fresh_load(args.paths) for _ in range(args.rounds))
    warm = _median_seconds(lambda: load_paths(args.paths), args.rounds)
    c_compose = _median_seconds(compose(False), args.rounds) if C_LOADER else float("nan")
    pure_compose = _median_seconds(compose(True), args.rounds)

    print(
        f"{len(files)} files, {sum(len(t) for _, t in files) / 1024:.0f} KiB; libyaml: {C_LOADER}"
    )
    print(f"{'measure':<44}{'median s':>10}{'x baseline':>12}")
    rows = [
        ("baseline: yaml.load of every file", base),
        ("first load in a fresh interpreter (imports too)", fresh),
        ("load_paths in a warm process", warm),
        ("located reading, libyaml composer", c_compose),
        ("located reading, pure-Python composer", pure_compose),
    ]
    for label, seconds in rows:
        print(f"{label:<50}{seconds:>10.4f}{seconds / base:>12.1f}")


if __name__ == "__main__":
    main()
