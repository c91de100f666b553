from __future__ import annotations

from bot.throttle import Throttle, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_notice_then_silence_then_refill() -> None:
    clock = Clock()
    throttle = Throttle(burst=3, per_second=1.0, clock=clock)
    got = [throttle.check("a") for _ in range(6)]
    assert got == [Verdict.GO] * 3 + [Verdict.NOTICE, Verdict.DROP, Verdict.DROP]
    assert throttle.check("b") is Verdict.GO  # another user is not slowed
    clock.now += 1.0
    assert throttle.check("a") is Verdict.GO  # one a second trickles through
    assert throttle.check("a") is Verdict.DROP  # the same flood: no second notice
    clock.now += 3.0  # quiet until the bucket is full
    assert [throttle.check("a") for _ in range(4)] == [Verdict.GO] * 3 + [Verdict.NOTICE]


def test_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = Throttle(burst=2, per_second=1.0, clock=clock, max_users=100)
    for i in range(10_000):
        throttle.check(i)
        clock.now += 0.01
    assert len(throttle._buckets) <= 100
