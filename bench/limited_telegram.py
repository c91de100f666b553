"""The fake Bot API that enforces Telegram's sending limits, in its own process (so that it
does not share the relay's interpreter lock): ``python -m bench.limited_telegram TOKEN...``
prints ``{"url": ...}``, then answers each ``report`` line on stdin with one JSON line, and
exits at the end of stdin.

A report: ``accepted`` (token -> ``time.monotonic()`` of each accepted message; the clock is
the system's, the same in every process), ``limited`` (the 429 answers: token and time),
``duplicates`` (token -> messages repeating an earlier one: same chat and text) and
``violations`` (calls that broke the Bot API spec).
"""

from __future__ import annotations

import json
import sys

from tests.fakes.telegram_api import FakeTelegramApi, SendLimits


def main(tokens: list[str]) -> int:
    with FakeTelegramApi(token=None, limits=SendLimits()) as api:
        for token in tokens:
            api.add_bot(token)
        print(json.dumps({"url": api.url}), flush=True)
        for line in sys.stdin:
            if line.strip() == "report":
                report = {
                    "accepted": api.accepted_times(),
                    "limited": [[r["token"], r["time"]] for r in api.rate_limits],
                    "duplicates": {t: api.duplicates(token=t) for t in tokens},
                    "violations": api.violations,
                }
                print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
