"""Frame-rate cap and motion gate, with plain numbers and synthetic frames."""

from __future__ import annotations

import itertools

import numpy as np

from appliance.vision.motion import MotionGate, RateCap, should_run


def test_rate_cap_lets_through_one_frame_per_period():
    cap = RateCap(5.0)
    times = [i / 30 for i in range(90)]  # a 30 fps camera for 3 s
    passed = [t for t in times if cap.due(t)]
    assert 14 <= len(passed) <= 16
    assert all(0.18 <= b - a <= 0.24 for a, b in itertools.pairwise(passed))


def test_rate_cap_restarts_its_grid_after_a_stall():
    cap = RateCap(5.0)
    assert cap.due(0.0)
    assert not cap.due(0.1)
    assert cap.due(10.0)  # camera stalled: no burst of catch-up frames
    assert not cap.due(10.1)
    assert cap.due(10.2)


def test_should_run_on_first_frame_motion_and_periodic_recheck():
    kw = {"threshold": 0.01, "recheck_s": 5.0}
    assert should_run(0.0, 0.0, None, **kw) == "first"
    assert should_run(0.02, 1.0, 0.0, **kw) == "motion"
    assert should_run(0.001, 1.0, 0.0, **kw) == ""
    assert should_run(0.001, 5.0, 0.0, **kw) == "recheck"


def _frame(value: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    image = np.full((480, 640, 3), value, dtype=np.int16)
    return np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)


def test_gate_ignores_sensor_noise_and_sees_a_moving_object():
    rng = np.random.default_rng(1)
    gate = MotionGate(threshold=0.004, delta=18, recheck_s=5.0)
    assert gate.check(_frame(100, 3, rng), 0.0).reason == "first"
    quiet = [gate.check(_frame(100, 3, rng), 0.2 * i) for i in range(1, 26)]
    assert [d.reason for d in quiet if d.run] == ["recheck"]  # only the 5 s re-check
    moved = _frame(100, 3, rng)
    moved[100:300, 200:320] = 220  # something bright walked in
    decision = gate.check(moved, 5.2)
    assert decision.reason == "motion" and decision.change > 0.05
    assert gate.runs == 3 and gate.frames == 27


def test_a_change_that_stays_still_stops_triggering_at_once():
    rng = np.random.default_rng(2)
    gate = MotionGate(threshold=0.004, delta=18, recheck_s=100.0)
    gate.check(_frame(100, 2, rng), 0.0)
    changed = _frame(100, 2, rng)
    changed[:, :320] = 160
    reasons = [gate.check(changed, 0.2 * i).reason for i in range(1, 10)]
    assert reasons[0] == "motion"
    assert set(reasons[1:]) == {""}  # a still person is the re-check's job
