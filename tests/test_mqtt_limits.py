"""Reconnect backoff, command rate limits and error-event throttling (pure, plain numbers)."""

from __future__ import annotations

import random

from appliance.integrations.mqtt.limits import (
    ErrorThrottle,
    TokenBucket,
    backoff_delay,
    birth_delay,
)


def test_backoff_doubles_to_the_cap_with_jitter_in_the_upper_half():
    rng = random.Random(1)
    for failures, full in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 32.0), (6, 60.0), (50, 60.0)]:
        for _ in range(50):
            delay = backoff_delay(failures, base_s=1.0, cap_s=60.0, rng=rng)
            assert full / 2 <= delay <= full
    delays = {round(backoff_delay(3, base_s=1.0, cap_s=60.0, rng=rng), 3) for _ in range(20)}
    assert len(delays) > 10  # jittered: a fleet does not reconnect in lock-step


def test_birth_delay_is_within_the_window():
    rng = random.Random(2)
    values = [birth_delay(5.0, rng) for _ in range(200)]
    assert min(values) >= 0 and max(values) <= 5.0
    assert max(values) - min(values) > 3.0


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=10.0, burst=5)
    assert [bucket.take(0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.take(0.05) is False  # half a token
    assert bucket.take(0.1) is True
    assert bucket.take(0.1) is False
    assert sum(bucket.take(1.0 + i / 1000) for i in range(1000)) <= 5 + 11  # one second at 1000/s: ~rate


def test_error_throttle_reports_a_few_then_summarises():
    throttle = ErrorThrottle(per_window=2, window_s=1.0)
    assert [throttle.admit("rate-limited", 0.0 + i / 100) for i in range(5)] == [True, True, False, False, False]
    assert throttle.admit("bad-json", 0.1) is True  # per code
    assert throttle.due(0.5) == {}
    assert throttle.due(1.0) == {"rate-limited": 3}
    assert throttle.due(2.0) == {}
    assert throttle.admit("rate-limited", 1.2) is True  # a new window
