"""The rooms bench's trials: the daemons of one condition, the utterance, one trial played and read back.

:mod:`~appliance.bench.rooms` runs the conditions; this module plays one trial at a time to every
daemon (:class:`~appliance.bench.rooms_daemon.RoomFeed`), waits until each that heard it is done,
and records who heard, claimed, decided, answered and set a timer (:class:`TrialRecord`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.bench.harness import WAKE_PHRASE, speak
from appliance.bench.rooms_daemon import Observer, RoomDaemon, RoomFeed, device_of
from appliance.bench.rooms_mix import QUIET_NOISE_DBFS, Trial, speech_dbfs, trial_audio
from appliance.bench.rooms_score import Election, TrialRecord
from appliance.bench.stream import energy_voicing, speech_end_s
from appliance.core.errors import ControlError

LEAD_S = 1.0
"""Room noise before the wake word.  The room has been at this trial's noise since the last trial's
utterance ended (the reply takes 2-3 s more), so the daemon's noise estimate (3 s of history) hears it."""
STEADY_S = 2.2
"""The room's noise before a trial's own lead-in at least this long: with the lead-in, the daemon's 3 s of
history before the wake word hold only this trial's noise (a room that just turned noisy would read clear)."""
GAP_S = 0.4
TAIL_S = 0.3
HEARD_GRACE_S = 2.5
"""After the wake word ends: a trial that nobody heard by then is over."""
TRIAL_TIMEOUT_S = 15.0
"""After the wake word ends: a turn still going then (a long LLM reply) is stopped, so the next trial is clean."""
START_TIMEOUT_S = 240.0
SEED = 7
"""The rooms' noise is drawn from it (with the trial's index)."""

Log = Callable[[str], None]


class Rig:
    """The daemons, their feed and the bench's subscriber for one condition (the broker outlives it)."""

    def __init__(
        self,
        work: Path,
        models: Path,
        devices: Sequence[str],
        port: int,
        observe: int,
        prefixes: dict[str, list[str]],
        window_ms: int | None = None,
    ) -> None:
        self.daemons = {
            d: RoomDaemon(d, work, models, port, prefix=prefixes.get(d), window_ms=window_ms) for d in devices
        }
        self.feed = RoomFeed(self.daemons, QUIET_NOISE_DBFS)
        self.rooms_since = time.monotonic()
        """When the rooms' noise last changed."""
        self.observer = Observer(observe)

    def start(self, log: Log) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for daemon in self.daemons.values():
            if not daemon.ready.wait(max(1.0, deadline - time.monotonic())):
                raise RuntimeError(f"{daemon.device} did not start:\n" + "\n".join(daemon.tail))
        self.feed.start()
        self.observer.__enter__()
        log(f"rooms: {len(self.daemons)} daemons listening")
        self.wait_electing(deadline)

    def states(self) -> dict[str, dict[str, Any]]:
        out = {}
        for device, daemon in self.daemons.items():
            try:
                out[device] = daemon.call("status").get("rooms", {})
            except ControlError as err:
                out[device] = {"state": f"no answer ({err.code})"}
        return out

    def wait_electing(self, deadline: float) -> float:
        """Until every daemon knows every other one; seconds it took."""
        start, others = time.monotonic(), len(self.daemons) - 1
        while time.monotonic() < deadline:
            states = self.states()
            if all(s.get("state") == "electing" and len(s.get("peers", [])) >= others for s in states.values()):
                time.sleep(2.2)  # PeerTable.min_known_s: a peer's claims count 2 s after its first hello
                return time.monotonic() - start
            time.sleep(0.2)
        raise RuntimeError(f"the daemons did not find each other: {self.states()}")

    def stop(self) -> None:
        self.observer.__exit__()
        for daemon in self.daemons.values():
            daemon.stop()
        self.feed.stopped.set()


class Utterances:
    """ "Hey Jarvis." and each trial's request in the Piper voice; where the wake word's speech ends."""

    def __init__(self, tts: Any) -> None:
        self.tts = tts
        self.wake = speak(tts, WAKE_PHRASE)
        self.wake_end = int(speech_end_s(energy_voicing(self.wake)) * SAMPLE_RATE)
        self.level_dbfs = speech_dbfs(self.wake)
        self._requests: dict[int, np.ndarray] = {}

    def of(self, minutes: int) -> np.ndarray:
        if minutes not in self._requests:
            self._requests[minutes] = speak(self.tts, f"Set a timer for {minutes} minutes.")
        gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.int16)
        return np.concatenate([self.wake, gap, self._requests[minutes]])


def set_rooms(rig: Rig, trial: Trial | None) -> None:
    """The noise each room has between trials: ``trial``'s, so its noise is steady before its wake word."""
    if trial is None:
        return
    levels = {p.device: p.noise_dbfs for p in trial.placements}
    if levels != rig.feed.idle_dbfs:
        rig.feed.idle_dbfs.update(levels)
        rig.rooms_since = time.monotonic()


def run_trial(
    rig: Rig, trial: Trial, speech: Utterances, *, upcoming: Trial | None = None, broker_up: bool = True
) -> TrialRecord:
    """Play one trial to every daemon, wait until each that heard it is done, then read and clear the timers.

    Once the utterance is written, the rooms take on ``upcoming``'s noise.
    """
    audio = trial_audio(trial, speech.of(trial.minutes), LEAD_S, TAIL_S, SEED)
    length = len(next(iter(audio.values())))
    set_rooms(rig, trial)
    time.sleep(max(0.0, rig.rooms_since + STEADY_S - time.monotonic()))
    lead = int(LEAD_S * SAMPLE_RATE)
    start = time.monotonic()
    written = rig.feed.play(audio, {"wake_end": lead + speech.wake_end, "end": length - 1})
    record = TrialRecord(trial, broker_up=broker_up)
    _wait(lambda: "wake_end" in written, length / SAMPLE_RATE + 10)
    record.wake_end, record.wake_end_s = written.get("wake_end"), written.get("wake_end_s")
    wake_end = record.wake_end or time.monotonic()
    _wait(lambda: "end" in written, length / SAMPLE_RATE + 10)
    set_rooms(rig, upcoming)
    while time.monotonic() < wake_end + TRIAL_TIMEOUT_S:
        heard = {d for d, daemon in rig.daemons.items() if daemon.since(start, "wake")}
        ended = {d for d, daemon in rig.daemons.items() if daemon.since(start, "turn")}
        if "end" in written and heard and heard <= ended:
            break
        if "end" in written and not heard and time.monotonic() > wake_end + HEARD_GRACE_S:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # an election event still on its way
    _collect(rig, record, start)
    _stop_busy(rig, record, start)
    return record


def _stop_busy(rig: Rig, record: TrialRecord, start: float) -> None:
    """A device still in this trial's turn took it (counted as answering); stop it before the next trial."""
    record.busy = sorted(d for d in record.heard if not rig.daemons[d].since(start, "turn"))
    for device in record.busy:
        with contextlib.suppress(ControlError):
            rig.daemons[device].call("stop")
    _wait(lambda: all(rig.daemons[d].since(start, "turn") for d in record.busy), 10.0)
    for device in record.busy:  # what it did meanwhile (a timer set late) is cleared too
        with contextlib.suppress(ControlError):
            rig.daemons[device].call("timer.cancel", {"all": True, "kind": "any"})


def _wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def _collect(rig: Rig, record: TrialRecord, start: float) -> None:
    for device, daemon in rig.daemons.items():
        wakes = daemon.since(start, "wake")
        if wakes:
            record.heard[device] = float(wakes[0].data["at_s"])
        turns = daemon.since(start, "turn")
        if turns:
            record.outcomes[device] = [str(t.data.get("outcome")) for t in turns]
    for msg in rig.observer.since(start, "/event/election"):
        data = msg.payload if isinstance(msg.payload, dict) else {}
        record.elections.append(
            Election(
                device=device_of(msg.topic),
                result=str(data.get("result")),
                winner=str(data.get("winner")),
                delay_ms=float(data.get("delay_ms", 0.0)),
                arrived=msg.at,
                claims=len(data.get("claims", [])),
            )
        )
    for msg in rig.observer.since(start, "/claim"):
        if isinstance(msg.payload, dict):
            device, snr = str(msg.payload.get("device_id")), msg.payload.get("snr_db")
            record.claims.append((msg.at, device))
            if isinstance(snr, (int, float)):
                record.claimed_snr.setdefault(device, float(snr))
    for device, daemon in rig.daemons.items():
        try:
            timers = daemon.call("timers.list").get("timers", [])
            record.timers[device] = len(timers)
            record.timers_right[device] = sum(
                abs(float(t.get("remaining_s") or 0.0) - 60.0 * record.trial.minutes) < 90.0 for t in timers
            )
            if timers:
                daemon.call("timer.cancel", {"all": True, "kind": "any"})
        except ControlError:
            record.timers[device] = 0
    record.states = {d: str(s.get("state")) for d, s in rig.states().items()}


def _progress(label: str, i: int, n: int, r: TrialRecord, log: Log) -> None:
    ms = r.latencies_ms()
    log(
        f"rooms {label} {i}/{n}: {r.trial.kind}, nearest {r.trial.nearest}, clearest {r.trial.clearest}; "
        f"heard {sorted(r.heard)}, answered {r.answered}, timers on {r.acted}, "
        f"first claim {r.first_claim}, decision {max(ms) if ms else None} ms"
    )


def run_trials(
    rig: Rig, trials: list[Trial], speech: Utterances, label: str, log: Log, *, broker_up: bool = True
) -> list[TrialRecord]:
    """``trials`` one after the other (the rooms already at the first one's noise)."""
    records = []
    for i, trial in enumerate(trials, 1):
        upcoming = trials[i] if i < len(trials) else trial  # the last one's room stays as it is
        records.append(run_trial(rig, trial, speech, upcoming=upcoming, broker_up=broker_up))
        _progress(label, i, len(trials), records[-1], log)
    return records
