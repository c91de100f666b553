"""``python -m bench <name> [...]``, ``python -m bench all``; ``--smoke`` for a quick run that
checks nothing and records nothing (the test suite runs it)."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys

from bench import latency, reply, startup
from bench.common import Figure, record

NAMES = ("reply", "latency", "startup")


def _run(name: str, kinds: tuple[str, ...], args: argparse.Namespace) -> list[Figure]:
    smoke = args.smoke
    if name == "reply":
        return reply.measure(kinds, chats=20 if smoke else 1000)
    if name == "startup":
        return startup.measure(runs=1 if smoke else 3)
    chats, rounds, total = (20, 2, 20) if smoke else (500, 4, 1500)
    return [
        figure
        for kind in kinds
        for figure in asyncio.run(
            latency.measure(kind, chats=chats, rounds=rounds, rate=args.rate, total=total)
        )
    ]


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
    figures: list[Figure] = []
    for name in names:
        got = _run(name, kinds, args)
        for figure in got:
            print(figure.line(), flush=True)
        figures.extend(got)
    if not args.smoke:
        record(figures, "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
