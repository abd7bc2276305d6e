"""``appliance bench --only rooms``: the room election measured from outside, three appliances on one machine.

A private Mosquitto and three ``appliance run --input - --output -`` daemons (state dirs and
config files of their own: device id, broker, ``[rooms]`` with an area each; memory off;
the default models).  One writer feeds all of them in real time the same utterance, "Hey
Jarvis. Set a timer for N minutes." (Piper), mixed per daemon by the room simulation of
:mod:`~appliance.bench.rooms_mix`: the nearest at 0 dB, the others at -6 and -12 dB, each over
its own room's noise, the nearest rotating, and sometimes the nearest (or the middle one) in
noise.  N is distinct per trial; between trials every timer is cancelled over the control socket.

Per trial the bench records who heard the wake word and who answered (the daemons' logs), each
daemon's ``event/election`` and every claim as its own MQTT subscriber receives them, and the
timers each daemon holds afterwards (``timers.list``).  Conditions, one after the other:
``plain``; ``delay`` (every daemon reaches the broker through a TCP relay that adds 20 ms each
way, :mod:`~appliance.bench.rooms_relay`); ``clock`` (one daemon under libfaketime, its clocks
5 s ahead; skipped, with the reason, where ``faketime`` is not installed); ``broker_stop``
(the broker stopped after a third of the trials and started again after two thirds: status
and answers while it is down, and the time until the group elects again).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.bench.harness import WAKE_PHRASE
from appliance.bench.rooms_daemon import faketime_command
from appliance.bench.rooms_mix import Trial, plan_trials
from appliance.bench.rooms_relay import DelayRelay
from appliance.bench.rooms_score import score, score_alone
from appliance.bench.rooms_trials import Log, Rig, Utterances, run_trials, set_rooms
from appliance.integrations.mqtt.broker import Mosquitto

DEVICES = ("kitchen", "hall", "study")
CONDITIONS = ("plain", "delay", "clock", "broker_stop")

DELAY_S = 0.020
CLOCK_OFFSET = "+5s"
RECOVERY_TIMEOUT_S = 120.0
SEED = 7
"""Each condition's plan is drawn from it."""


def broker_stop(rig: Rig, broker: Mosquitto, trials: list[Trial], speech: Utterances, log: Log) -> dict[str, Any]:
    """A third of the trials with the broker up, a third with it stopped, a third after it is back."""
    third = max(1, len(trials) // 3)
    records = run_trials(rig, trials[:third], speech, "broker_stop (up)", log)
    set_rooms(rig, trials[third] if len(trials) > third else None)
    broker.stop()
    stopped = time.monotonic()
    noticed = _until_all(rig, lambda s: s.get("state") == "alone (broker down)", RECOVERY_TIMEOUT_S)
    log(f"rooms: broker stopped; every daemon says 'alone (broker down)' after {noticed} s")
    records += run_trials(rig, trials[third : 2 * third], speech, "broker_stop (down)", log, broker_up=False)
    down_s = time.monotonic() - stopped
    set_rooms(rig, trials[2 * third] if len(trials) > 2 * third else None)
    broker.start()
    back = _until_all(
        rig, lambda s: s.get("state") == "electing" and len(s.get("peers", [])) >= len(rig.daemons) - 1, 120
    )
    log(f"rooms: broker back after {down_s:.0f} s down; every daemon electing again after {back} s")
    records += run_trials(rig, trials[2 * third :], speech, "broker_stop (after)", log)
    return {
        "down_s": round(down_s, 1),
        "status_alone_after_s": noticed,
        "electing_again_after_s": back,
        "while_down": score_alone(records),
        "broker_up": score(records),
        "first_trial_after_restart": records[2 * third].as_row() if len(records) > 2 * third else None,
        "per_trial": [r.as_row() for r in records],
    }


def _until_all(rig: Rig, ok: Callable[[dict[str, Any]], bool], timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if all(ok(s) for s in rig.states().values()):
            return round(time.monotonic() - start, 2)
        time.sleep(0.1)
    return None


def _clock_offsets(rig: Rig, start: float) -> dict[str, float]:
    """Each daemon's wall clock against the bench's: its election events' ts minus their arrival, median."""
    out: dict[str, float] = {}
    for device in rig.daemons:
        gaps = [
            m.payload["ts"] - m.wall
            for m in rig.observer.since(start, f"{device}/event/election")
            if isinstance(m.payload, dict) and isinstance(m.payload.get("ts"), (int, float))
        ]
        if gaps:
            out[device] = round(float(np.median(gaps)), 2)
    return out


def measure_rooms(
    settings: Any,
    tts: Any,
    log: Log,
    *,
    trials: int = 50,
    short_trials: int = 20,
    devices: int = 3,
    conditions: Sequence[str] = CONDITIONS,
    window_ms: int | None = None,
) -> dict[str, Any]:
    """The whole section: ``trials`` plain trials, ``short_trials`` in each other condition.

    ``window_ms`` sets every daemon's ``rooms.window_ms`` (None: the default setting).
    """
    names = DEVICES[:devices]
    speech = Utterances(tts)
    work = Path(tempfile.mkdtemp(prefix="bench-rooms-"))
    models = settings.state_dir / "models"
    broker = Mosquitto(work / "broker").start()
    report: dict[str, Any] = {
        "devices": list(names),
        "window_ms": window_ms if window_ms is not None else settings.rooms.window_ms,
        "speech_dbfs": round(speech.level_dbfs, 1),
        "room": "nearest 0 dB, others -6 / -12 dB; quiet rooms -60±2 dBFS noise; a room in noise at 6 dB SNR",
        "utterance": f"{WAKE_PHRASE} Set a timer for N minutes. (Piper, N distinct per trial)",
    }
    try:
        for name in conditions:
            count = trials if name == "plain" else short_trials
            plan = plan_trials(names, count, speech.level_dbfs, seed=SEED + len(report), first_minutes=2)
            started = time.monotonic()
            report[name] = _condition(name, plan, work / name, models, broker, speech, log, window_ms)
            report[name]["wall_s"] = round(time.monotonic() - started, 1)
            _summary(name, report[name], log)
    finally:
        broker.stop()
    return report


def _condition(
    name: str,
    plan: list[Trial],
    work: Path,
    models: Path,
    broker: Mosquitto,
    speech: Utterances,
    log: Log,
    window_ms: int | None,
) -> dict[str, Any]:
    prefixes: dict[str, list[str]] = {}
    relay: DelayRelay | None = None
    port = broker.port
    names = [p.device for p in plan[0].placements] if plan else []
    if name == "clock":
        prefix = faketime_command(CLOCK_OFFSET)
        if prefix is None:
            return {"skipped": "libfaketime's faketime is not installed (apt-get install faketime)"}
        prefixes[sorted(names)[1]] = prefix
    if name == "delay":
        relay = DelayRelay(broker.port, DELAY_S).start()
        port = relay.port
    log(f"rooms {name}: starting {len(names)} daemons ({len(plan)} trials)")
    rig = Rig(work, models, sorted(names), port, broker.port, prefixes, window_ms)
    try:
        rig.start(log)
        started = time.monotonic()
        if name == "broker_stop":
            return broker_stop(rig, broker, plan, speech, log)
        records = run_trials(rig, plan, speech, name, log)
        out = score(records) | {"per_trial": [r.as_row() for r in records]}
        if name == "delay":
            out["broker_link"] = f"TCP relay in the bench, {DELAY_S * 1000:.0f} ms added each way"
        if name == "clock":
            out["clock_offset"] = {"device": next(iter(prefixes)), "faketime": CLOCK_OFFSET}
            out["wall_clock_vs_bench_s"] = _clock_offsets(rig, started)
        return out
    finally:
        rig.stop()
        if relay is not None:
            relay.stop()


def _summary(name: str, part: dict[str, Any], log: Log) -> None:
    if "skipped" in part:
        log(f"rooms {name}: skipped ({part['skipped']})")
        return
    s = part.get("broker_up", part)
    lat, own = s["end_of_wake_to_decision_ms"], s["daemon_delay_ms"]
    log(
        f"rooms {name}: exactly one answered {s['exactly_one_answered']}/{s['trials']}, "
        f"best placed {s['best_placed_won']}/{s['trials']}, decision p50 {lat['p50']} p99 {lat['p99']} ms "
        f"(daemon {own['p50']}/{own['p99']} ms), double actions {s['double_actions']}, "
        f"HA rule wrong {s['ha_rule']['first_claim_not_best_placed']}/{s['ha_rule']['trials_with_claims']}"
    )


def bench_rooms(settings: Any, registry: Any, log: Log, **options: Any) -> dict[str, Any]:
    """``--only rooms`` needs only the Piper voice in the bench's own process."""
    from appliance.engines.tts import PiperTts

    tts = PiperTts(registry.resolve(settings.tts.voice), replace(settings.tts, variation=0.0))
    return measure_rooms(settings, tts, log, **options)
