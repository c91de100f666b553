"""``python -m bench <name> [...]``, ``python -m bench all``; ``--smoke`` for a quick run that
checks nothing and records nothing (the test suite runs it)."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys

from bench import latency
from bench.common import Figure, record

NAMES = ("latency",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="+", choices=(*NAMES, "all"))
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no targets, no record")
    args = parser.parse_args(argv)
    names = NAMES if "all" in args.names else tuple(dict.fromkeys(args.names))
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    figures: list[Figure] = []
    for name in names:
        for kind in kinds:
            if name == "latency":
                chats, rounds = (20, 2) if args.smoke else (500, 4)
                got = asyncio.run(latency.measure(kind, chats=chats, rounds=rounds))
            for figure in got:
                print(figure.line(), flush=True)
            figures.extend(got)
    if not args.smoke:
        record(figures, "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
