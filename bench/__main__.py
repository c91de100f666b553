"""``python -m bench <name> [...]``, ``python -m bench all``; ``--smoke`` for a quick run that
checks nothing and records nothing (the test suite runs it).

Each benchmark is a module with ``run(run: Run) -> list[Figure]``, listed once in ``BENCHES``."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from collections.abc import Callable

from bench import digest, latency, memory, relay, reply, scaleout, startup, workbook_import
from bench.common import Figure, Run, record


def _latency(run: Run) -> list[Figure]:
    chats, rounds, total = (20, 2, 20) if run.smoke else (500, 4, 1500)
    return [
        figure
        for kind in run.kinds
        for figure in asyncio.run(
            latency.measure(kind, chats=chats, rounds=rounds, rate=run.rate, total=total)
        )
    ]


BENCHES: dict[str, Callable[[Run], list[Figure]]] = {
    "reply": lambda run: reply.measure(run.kinds, chats=20 if run.smoke else 1000),
    "latency": _latency,
    "startup": lambda run: startup.measure(runs=1 if run.smoke else 3),
    "relay": lambda run: relay.measure(
        run.kinds, bots=(2,) if run.smoke else (1, 10, 50), seconds=1.0 if run.smoke else 12.0
    ),
    "scaleout": scaleout.measure,
    "import": lambda run: workbook_import.measure(
        run.kinds, students=100 if run.smoke else 5000, runs=1 if run.smoke else 2, smoke=run.smoke
    ),
    "digest": lambda run: digest.measure(
        run.kinds,
        small=200 if run.smoke else 10_000,
        large=2_000 if run.smoke else 100_000,
        smoke=run.smoke,
    ),
    "memory": lambda run: memory.measure(
        run.kinds,
        # the size: 1,000 schools of 100 pupils, 100,000 linked guardians
        schools=3 if run.smoke else 1000,
        per_school=10 if run.smoke else 100,
        askers=3 if run.smoke else 1000,
        smoke=run.smoke,
    ),
}
NAMES = tuple(BENCHES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="+", choices=(*NAMES, "all"))
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no targets, no record")
    parser.add_argument(
        "--rate", type=float, default=50.0, help="latency: questions per second offered"
    )
    args = parser.parse_args(argv)
    names = NAMES if "all" in args.names else tuple(dict.fromkeys(args.names))
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    run = Run(kinds=kinds, smoke=args.smoke, rate=args.rate)
    figures: list[Figure] = []
    for name in names:
        got = BENCHES[name](run)
        for figure in got:
            print(figure.line(), flush=True)
        figures.extend(got)
    if not args.smoke:
        record(figures, "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
