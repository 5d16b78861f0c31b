"""Every "done when" criterion of issue 12 in one run, with its verdict.

Runs the other benchmarks of this folder one after the other, each in a child process on
this tree, reads the figures each criterion needs from their output, and prints one
table: criterion, target, measured, met. The children's whole output is printed first
(or written to ``--keep FOLDER``), so that every figure in the table can be traced to the
line it was read from.

The absolute criteria (messages a second, seconds to open) move with the machine; the
ratios against raw SQLAlchemy Core measured in the same run do not. So the table starts
with the machine's yardstick: raw Core's CPU per transition at ``synchronous=FULL``
(statements built per call), which issue 12 measured at 616 µs on the machine its
figures were set on. A machine slower than that reads the absolute rows against a higher
bar than the issue meant; a faster one against a lower. ``--scale`` prints the absolute
rows again as if measured on the issue's machine (each rate times this machine's Core CPU
over 616 µs, each time over it): an estimate, marked as one.

Usage::

    python benchmarks/criteria.py [--quick] [--keep FOLDER] [--scale]

PostgreSQL runs when ``CMC_BENCH_POSTGRES_URL`` (or ``CMC_TEST_POSTGRES_URL``) is set.
``--quick`` runs every measure small (a smoke run of this script, not figures).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ISSUE_CORE_CPU_US = 616.0
"""Raw Core's CPU per transition at ``synchronous=FULL``, statements built per call, on
the machine issue 12's figures were set on."""

FULL = {
    "engine_throughput.py": ["--items", "100", "--rounds", "3"],
    "bulk.py": ["--items", "2000", "--batch", "1000", "--rounds", "3", "--single", "5"],
    "history_growth.py": ["--items", "10", "--sizes", "10,100,1000", "--only", "sqlite"],
    "timers.py": ["--only", "sqlite"],
    "startup.py": ["--rounds", "9"],
}
QUICK = {
    "engine_throughput.py": ["--items", "5", "--rounds", "1"],
    "bulk.py": ["--items", "100", "--batch", "100", "--rounds", "1", "--single", "1"],
    "history_growth.py": ["--items", "1", "--sizes", "10,100", "--only", "sqlite"],
    "timers.py": ["--only", "sqlite", "--pending", "10000", "--due", "1000"],
    "startup.py": ["--rounds", "1"],
}


@dataclass(frozen=True)
class Row:
    """One criterion's line of the table."""

    criterion: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    absolute: bool = False  # moves with the machine


def run(script: str, arguments: Sequence[str], keep: Path | None) -> str:
    """The child's standard output and error, together; echoed or kept."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(HERE / script), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # The bundled calendar may not know next year yet: its provisional deadlines are
    # logged, one line each, and are not figures.
    lines = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if '"provisional_deadline"' not in line
    ]
    output = "\n".join(lines)
    took = time.perf_counter() - started
    header = f"== {script} {' '.join(arguments)} ({took:.0f} s, exit {done.returncode})"
    if keep is None:
        print(header, output, sep="\n", flush=True)
    else:
        (keep / f"{script.removesuffix('.py')}.txt").write_text(header + "\n" + output + "\n")
        print(header, flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed (exit {done.returncode}); its output is above")
    return output


def number(text: str) -> float:
    return float(text.replace(",", ""))


def find(pattern: str, output: str, what: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"criteria.py could not read {what} from the output above")
    return match


def throughput(output: str) -> tuple[list[Row], float]:
    """Single commands against Core per call, each database; and Core's CPU on SQLite."""
    rows: list[Row] = []
    core_cpu = 0.0
    for database, label, floor in (("sqlite", "SQLite", 0.6), ("postgres", "PostgreSQL", 0.5)):
        engine = re.search(rf"^{database}\s+engine\s+([\d,]+)\s+([\d,]+)", output, re.MULTILINE)
        if engine is None:
            rows.append(
                Row(
                    f"single commands, {label}, of raw Core per call",
                    f">= {floor}x",
                    "not run",
                    None,
                )
            )
            continue
        per_call = find(
            rf"^{database}\s+core, statements per call\s+[\d,]+"
            r"\s+(\d+)%\s+(\d+)%\.\.(\d+)%\s+([\d,]+)\s+([\d.]+)",
            output,
            f"{database}'s Core per call row",
        )
        share, low, high = (int(per_call[i]) / 100 for i in (1, 2, 3))
        cpu_ratio = number(per_call[5])
        if database == "sqlite":
            core_cpu = number(per_call[4])
        durability = " FULL" if database == "sqlite" else ""
        rows.append(
            Row(
                f"single commands, {label}{durability}, of raw Core per call",
                f">= {floor}x",
                f"{share:.2f}x (rounds {low:.2f}..{high:.2f})",
                share >= floor,
            )
        )
        rows.append(
            Row(
                f"CPU per transition, {label}, of raw Core's",
                "<= 4x",
                f"{cpu_ratio:.1f}x ({number(engine[2]):,.0f} µs)",
                cpu_ratio <= 4,
            )
        )
    return rows, core_cpu


def bulk(output: str) -> list[Row]:
    rows = []
    for name, label in (("start_many", "register"), ("fire_many", "classify")):
        line = find(
            rf"^engine {name} \({label}\)\s+([\d,]+)\s+([\d,]+)\s+\d+%\s+[\d.]+\s+([\d,]+)",
            output,
            f"{name}'s row",
        )
        rate = number(line[1])
        rows.append(
            Row(
                f"{name}, SQLite FULL, messages a second (CPU µs each)",
                ">= 5,000/s",
                f"{rate:,.0f}/s ({number(line[3]):,.0f} µs)",
                rate >= 5000,
                absolute=True,
            )
        )
    return rows


def growth(output: str) -> list[Row]:
    """The judged commands' CPU at the largest size against 10 entries."""
    find(r"median CPU µs per command", output, "the CPU table")
    table = output.split("median CPU µs per command", 1)[1]
    lines = [line for line in table.splitlines() if re.match(r"\s+[\d,]+\s+[\d,]+ \(", line)]
    last = lines[-1]
    size = last.split()[0]
    ratios = [float(r) for r in re.findall(r"\(([\d.]+)x\)", last)[:3]]  # the engine's three
    return [
        Row(
            f"a judged command at {size} history entries, of its cost at 10 (CPU)",
            "<= 1.2x",
            ", ".join(f"{r:.2f}x" for r in ratios),
            max(ratios) <= 1.2,
        )
    ]


def timers(output: str) -> list[Row]:
    idle = [
        number(m[1]) for m in re.finditer(r"^\s+[\d,]+\s+(\d+) µs\s+\d+ µs$", output, re.MULTILINE)
    ]
    daemon = find(r"daemon .*?: ([\d,]+) timers in ([\d.]+) s", output, "the daemon's line")
    seconds, fired = number(daemon[2]), number(daemon[1])
    flat = max(idle) <= 2 * statistics.median(idle) if idle else False
    return [
        Row(
            f"the daemon fires {fired:,.0f} due timers, SQLite (run --once, start-up included)",
            "< 10 s for 10,000",
            f"{seconds:.2f} s",
            seconds < 10 if fired >= 10000 else None,
            absolute=True,
        ),
        Row(
            "idle pass at each size of pending timers",
            "flat",
            " / ".join(f"{v:.0f} µs" for v in idle),
            flat,
        ),
    ]


def startup(output: str) -> list[Row]:
    validate = find(r"^cmc-workflow validate .*?this tree\s+([\d.]+)", output, "validate's row")
    child = find(r"^\s+imports \+ the call\s+([\d.]+)", output, "the open's imports + call")
    whole = find(r"^Engine\.open on a migrated .*?this tree\s+([\d.]+)", output, "the open's row")
    exit_ = find(r"exit \(after the last line\)\s+([\d.]+)", output, "the exit")
    seconds = number(validate[1])
    opened = number(child[1])
    return [
        Row(
            "cold `validate` of the bundle (median)",
            "< 0.5 s",
            f"{seconds:.3f} s",
            seconds < 0.5,
            True,
        ),
        Row(
            "cold `Engine.open`: fresh interpreter to an open engine (imports + call, median)",
            "< 0.5 s",
            f"{opened:.3f} s (whole process {number(whole[1]):.3f} s,"
            f" of it the exit {number(exit_[1]):.3f} s)",
            opened < 0.5,
            True,
        ),
    ]


def scaled(row: Row, factor: float) -> str:
    """An absolute row's first figure as on the issue's machine (rates x, times /)."""
    first = re.match(r"([\d,.]+)(/s| s)", row.measured)
    if first is None:
        return "-"
    value = number(first[1])
    return f"~{value * factor:,.0f}/s" if first[2] == "/s" else f"~{value / factor:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run, not figures"
    )
    parser.add_argument(
        "--keep", type=Path, help="write each child's output to FOLDER instead of printing it"
    )
    parser.add_argument(
        "--scale", action="store_true", help="estimate the absolute rows on the issue's machine"
    )
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if args.quick else FULL
    began = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    readers: list[tuple[str, Callable[[str], list[Row]]]] = [
        ("bulk.py", bulk),
        ("history_growth.py", growth),
        ("timers.py", timers),
        ("startup.py", startup),
    ]
    rows, core_cpu = throughput(
        run("engine_throughput.py", sizes["engine_throughput.py"], args.keep)
    )
    for script, read in readers:
        rows += read(run(script, sizes[script], args.keep))
    load = os.getloadavg()
    print()
    print(
        f"issue 12, every criterion; {began} to {time.strftime('%H:%M:%S', time.gmtime())}, "
        f"load average {load[0]:.1f} at the end"
        + ("; QUICK: sizes too small for figures" if args.quick else "")
    )
    print(
        f"yardstick: raw Core per call, SQLite FULL, {core_cpu:,.0f} µs CPU a transition "
        f"(the issue's machine: {ISSUE_CORE_CPU_US:.0f} µs; this machine is "
        f"{ISSUE_CORE_CPU_US / core_cpu:.2f}x as fast)"
    )
    factor = core_cpu / ISSUE_CORE_CPU_US
    width = max(len(r.criterion) for r in rows)
    print(f"{'criterion':<{width}}  {'target':<18} {'met':<4} measured")
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "NO")
        extra = (
            f"   [on the issue's machine: {scaled(row, factor)}]"
            if args.scale and row.absolute
            else ""
        )
        print(f"{row.criterion:<{width}}  {row.target:<18} {met:<4} {row.measured}{extra}")
    if any(r.met is False for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
