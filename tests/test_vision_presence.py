"""The presence state machine and its sentence for the LLM, with plain numbers."""

from __future__ import annotations

from appliance.vision.presence import PresenceMachine, PresenceState, describe


def test_on_delay_needs_an_unbroken_run_of_sightings():
    m = PresenceMachine(on_delay_s=1.0, off_delay_s=10.0)
    assert m.observe(0.0, faces=1, people=0) is None
    assert m.observe(0.5, faces=0, people=0) is None  # broken: start again
    assert m.observe(0.6, faces=1, people=0) is None
    assert m.observe(1.4, faces=1, people=0) is None
    change = m.observe(1.6, faces=2, people=1)
    assert change is not None and change.present and change.faces == 2 and change.people == 1
    assert change.since == 1.6


def test_tick_turns_presence_on_when_the_on_delay_expires_between_frames():
    m = PresenceMachine(on_delay_s=0.4, off_delay_s=10.0)
    m.observe(0.0, faces=1, people=0)
    assert m.tick(0.3) is None
    assert m.tick(0.41).present


def test_off_delay_counts_from_the_last_sighting():
    m = PresenceMachine(on_delay_s=0.0, off_delay_s=5.0)
    assert m.observe(0.0, faces=1, people=0).present
    m.observe(2.0, faces=0, people=1)
    assert m.observe(6.0, faces=0, people=0) is None  # seen at 2.0: not yet 5 s
    assert m.tick(6.9) is None
    change = m.tick(7.0)
    assert change is not None and not change.present and change.last_seen == 2.0


def test_reset_forgets_the_run_but_keeps_presence_until_the_off_delay():
    m = PresenceMachine(on_delay_s=1.0, off_delay_s=3.0)
    m.observe(0.0, faces=1, people=0)
    m.reset()
    assert m.observe(0.9, faces=1, people=0) is None  # the on-delay restarts at 0.9
    assert m.observe(1.5, faces=1, people=0) is None
    assert m.observe(2.0, faces=1, people=0).present


def test_describe_for_the_llm():
    seen = PresenceState(True, 1, 0, 100.0, 90.0)
    assert describe(seen, 100.0) == "Someone is in the room."
    assert "2 people" in describe(PresenceState(True, 2, 1, 100.0, 90.0), 100.0)
    gone = PresenceState(False, 0, 0, 100.0, 130.0)
    assert describe(gone, 100.0 + 2 * 3600 + 5) == "Nobody has been seen in the room for 2 hours."
    assert describe(gone, 130.0) == "Nobody has been seen in the room for less than a minute."
    assert "since you started" in describe(PresenceState(False, 0, 0, None, 0.0), 5.0)
    assert "switched off" in describe(seen, 100.0, camera_on=False)
    assert "not working" in describe(seen, 100.0, available=False)
