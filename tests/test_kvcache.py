"""Which cached tokens a new prompt can reuse (pure): the prefix, then runs after cut-out spans."""

from __future__ import annotations

from appliance.engines.llm.kvcache import Run, reuse_plan

SYSTEM = list(range(100, 120))
EX1 = list(range(200, 230))
EX2 = list(range(300, 330))
NOTES = list(range(400, 415))
REQ = list(range(500, 510))


def test_an_unchanged_start_is_one_prefix_run() -> None:
    cached = SYSTEM + EX1
    assert reuse_plan(cached, [*cached, *REQ]) == [Run(0, 0, len(cached))]
    assert reuse_plan([], REQ) == [Run(0, 0, 0)]


def test_the_last_turns_notes_are_cut_out_and_its_request_and_reply_kept() -> None:
    cached = SYSTEM + EX1 + NOTES + EX2  # turn 2 as evaluated: its notes before its request and reply
    new = SYSTEM + EX1 + EX2 + REQ  # turn 3: the history is plain pairs
    plan = reuse_plan(cached, new)
    assert plan == [Run(0, 0, 50), Run(65, 50, 30)]
    assert sum(r.length for r in plan) == len(new) - len(REQ)


def test_the_exchange_that_left_the_window_is_cut_out() -> None:
    cached = SYSTEM + EX1 + EX2
    assert reuse_plan(cached, SYSTEM + EX2 + REQ) == [Run(0, 0, 20), Run(50, 20, 30)]


def test_a_short_coincidence_is_not_reused_and_the_plan_stops_at_the_first_unknown_token() -> None:
    cached = SYSTEM + EX1
    new = [*SYSTEM, 1, 2, *EX1[:5], *REQ]
    assert reuse_plan(cached, new) == [Run(0, 0, 20)]  # 5 matching tokens are fewer than MIN_RUN
    assert reuse_plan(cached, SYSTEM + REQ + EX1) == [Run(0, 0, 20)]  # nothing after an insertion is kept
