"""Command line: parse, load settings, dispatch. The work lives in the modules it calls."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.core.errors import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    ApplianceError,
    ConfigError,
)
from appliance.settings import DEFAULT_CONFIG, Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appliance", description="Offline smart speaker: voice loop, control and maintenance."
    )
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    parser.add_argument(
        "--config", type=Path, help=f"TOML config (default: $APPLIANCE_CONFIG, else {DEFAULT_CONFIG} if present)"
    )
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="override log.level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--input", help="WAV file, or - for raw 16 kHz mono s16le PCM on stdin (default: the microphone)")
    run.add_argument("--output", help="WAV file, or - for raw PCM on stdout (default: the speaker)")
    run.add_argument(
        "--demo", action="store_true", help="first play the bundled demo conversation, then use the microphone"
    )
    run.add_argument("--no-control", action="store_true", help="do not serve the control socket")

    ask = sub.add_parser("ask", help="ask the LLM; the answer is spoken (the daemon's speaker, or --out)")
    ask.add_argument("text")
    ask.add_argument("--out", type=Path, help="write the spoken reply to this WAV instead of playing it")
    ask.add_argument("--local", action="store_true", help="load the engines here even if a daemon runs")
    ask.add_argument("--json", action="store_true")

    say = sub.add_parser("say", help="speak text")
    say.add_argument("text")
    say.add_argument("--out", type=Path, help="write to this WAV instead of playing it")
    say.add_argument("--local", action="store_true", help="load the voice here even if a daemon runs")

    transcribe = sub.add_parser("transcribe", help="speech-to-text of a WAV file")
    transcribe.add_argument("wav", type=Path)
    transcribe.add_argument("--json", action="store_true")

    converse = sub.add_parser(
        "converse", help="run the whole voice loop on a recording, as if it came from the microphone"
    )
    converse.add_argument("wav", type=Path)
    converse.add_argument(
        "--fast", action="store_true", help="feed the recording as fast as possible (no real-time pacing)"
    )
    converse.add_argument(
        "--json", action="store_true", help="print one JSON object with wake, transcript, reply and timings"
    )
    converse.add_argument("--out", type=Path, help="where to write the reply audio (default: a temporary WAV)")

    doctor = sub.add_parser("doctor", help="check audio devices, models, disk and config")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument(
        "--echo", action="store_true", help="one-minute echo-cancellation self-test: plays sweeps, reports ERLE, delay"
    )

    models = sub.add_parser("models", help="list, verify, locate, prepare or fetch models")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    mlist = msub.add_parser("list", help="every model in the manifest: installed?, size, sha256 state")
    mlist.add_argument("--json", action="store_true")
    mverify = msub.add_parser("verify", help="hash installed models against the manifest")
    mverify.add_argument("names", nargs="*")
    mverify.add_argument("--json", action="store_true")
    mpath = msub.add_parser("path", help="print the ready-to-load path of a model")
    mpath.add_argument("name")
    mfetch = msub.add_parser("fetch", help="download a device-grade model (needs internet)")
    mfetch.add_argument("name")
    msub.add_parser("prepare", help="join and verify the default models so the daemon starts fast")
    muse = msub.add_parser("use", help="swap a model into the running daemon (checked, probed, remembered)")
    muse.add_argument("role", help="llm, stt, tts or wake")
    muse.add_argument("model", help="manifest name or path")
    mrollback = msub.add_parser("rollback", help="swap the running daemon back to the role's previous model")
    mrollback.add_argument("role")
    mhistory = msub.add_parser("history", help="models swapped in, per role, with sha256 and time")
    mhistory.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="the running daemon's state")
    status.add_argument("--json", action="store_true")
    for name, helptext in (
        ("listen", "start a conversation as if the wake word was heard"),
        ("stop", "stop the current reply"),
        ("reload", "re-read the config file"),
        ("restart", "restart the daemon"),
    ):
        sub.add_parser(name, help=helptext)
    mute = sub.add_parser("mute", help="mute or unmute the microphone")
    mute.add_argument("state", choices=("on", "off", "toggle"))
    volume = sub.add_parser("volume", help="set the playback volume")
    volume.add_argument("level", type=int, help="0..100")
    wake_word = sub.add_parser("wake-word", help="choose the wake words")
    wake_word.add_argument("models", nargs="+")
    sensitivity = sub.add_parser("sensitivity", help="wake-word sensitivity 0..1 (higher wakes more easily)")
    sensitivity.add_argument("value", type=float)

    camera = sub.add_parser("camera", help="switch the camera on or off (off stops capture at the source)")
    camera.add_argument("state", choices=("on", "off", "toggle"))
    sub.add_parser("snapshot", help="capture one JPEG into <state_dir>/snapshots/ and print its path")
    vision = sub.add_parser("vision", help="run the vision detectors on a file")
    vsub = vision.add_subparsers(dest="vision_command", required=True, metavar="ACTION")
    vdetect = vsub.add_parser("detect", help="faces and people in an image or video file (kind, score, box)")
    vdetect.add_argument("file", type=Path)
    vdetect.add_argument("--fps", type=float, help="video frames analysed per second (default: vision.fps)")
    vdetect.add_argument("--json", action="store_true")
    from appliance.memory.cli import add_parser as add_memory_parser
    from appliance.skills.cli import add_parser as add_timers_parser

    add_memory_parser(sub)
    add_timers_parser(sub)

    config = sub.add_parser("config", help="show, check or print the default configuration")
    config.add_argument("action", choices=("show", "defaults", "check"))

    bench = sub.add_parser("bench", help="measure latency, CPU and memory (prints JSON)")
    bench.add_argument("--recordings", type=int, default=0, help="how many test recordings (0 = all)")
    bench.add_argument("--idle-seconds", type=float, default=20.0)
    bench.add_argument("--plot", type=Path, help="draw one conversation's stage timeline to this PNG")
    sections = (
        "latency",
        "idle",
        "rss",
        "llm",
        "baseline",
        "vision",
        "memory",
        "mqtt",
        "skills",
        "quality",
        "session",
        "echo",
        "endpoint",
        "understanding",
        "rooms",
        "wyoming",
    )
    bench.add_argument("--skip", action="append", default=[], choices=sections)
    bench.add_argument("--only", action="append", default=[], choices=sections, help="run just these sections")
    bench.add_argument("--out", type=Path, help="also write the JSON here")
    bench.add_argument("--memory-turns", type=int, default=100_000, help="stored turns for the memory figures")
    bench.add_argument(
        "--memory-recordings", type=int, default=4, help="conversations run with memory off, then on (0 = none)"
    )
    bench.add_argument("--session-turns", type=int, default=10, help="turns of the one-daemon session (at least 10)")
    bench.add_argument("--set", type=Path, help="understanding: score this labelled set instead (same format)")
    bench.add_argument("--verbose", action="store_true", help="understanding: list every failure")
    bench.add_argument("--rooms-trials", type=int, default=50, help="rooms: trials with nothing in the way")
    bench.add_argument(
        "--rooms-short-trials", type=int, default=20, help="rooms: trials per other condition (delay, clock, broker)"
    )
    bench.add_argument("--rooms-window-ms", type=int, help="rooms: every daemon's rooms.window_ms (default: as set)")
    return parser


def config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return args.config
    env = os.environ.get("APPLIANCE_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def setup_logging(settings: Settings, override: str | None) -> None:
    level = (override or settings.log.level).upper()
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if os.environ.get("INVOCATION_ID")
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = config_path(args)
        settings = load_settings(path)
        setup_logging(settings, args.log_level)
        return dispatch(args, settings, path)
    except ConfigError as err:
        print(f"appliance: configuration error: {err.message}", file=sys.stderr)
        return EXIT_CONFIG
    except ApplianceError as err:
        print(f"appliance: {err.message} [{err.code}]", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_RUNTIME


def dispatch(args: argparse.Namespace, settings: Settings, path: Path | None) -> int:
    command = args.command
    if command == "run":
        from appliance.core.procstat import tune_malloc
        from appliance.runtime.daemon import run_daemon

        tune_malloc()

        return run_daemon(settings, path, args)
    if command in ("ask", "say", "transcribe"):
        from appliance.cli import oneshot

        return getattr(oneshot, command)(settings, args)
    if command == "converse":
        from appliance.cli.converse import converse_command

        return converse_command(settings, args)
    if command == "doctor":
        from appliance.cli.doctor import doctor_command

        return doctor_command(settings, args)
    if command == "models":
        from appliance.cli.models import models_command

        return models_command(settings, args)
    if command == "config":
        return config_command(settings, args)
    if command == "vision":
        from appliance.vision.cli import vision_command

        return vision_command(settings, args)
    if command == "memory":
        from appliance.memory.cli import memory_command

        return memory_command(settings, args)
    if command == "timers":
        from appliance.skills.cli import timers_command

        return timers_command(settings, args)
    if command == "bench":
        from appliance.bench.main import bench_command

        return bench_command(settings, args)
    from appliance.cli.oneshot import daemon_command

    return daemon_command(settings, args)


def config_command(settings: Settings, args: argparse.Namespace) -> int:
    from appliance.settings import as_dict, describe_defaults

    if args.action == "defaults":
        print(describe_defaults())
    elif args.action == "show":
        print(json.dumps(as_dict(settings), indent=2))
    else:
        print("configuration OK")
    return 0


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
