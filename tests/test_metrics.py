"""Prometheus metrics: scraped over HTTP and parsed with prometheus_client's own parser; the counts
match the turns taken (voice turns through the real pipeline with fake engines, text turns through a
real in-process appliance)."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.core.errors import ConfigError
from appliance.core.events import ErrorRaised
from appliance.engines.llm.protocol import LanguageModel
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance
from appliance.runtime.metrics import MetricsFeature
from appliance.settings import (
    MetricsSettings,
    PathSettings,
    Settings,
    settings_from_dict,
)
from tests.fakes import began, ended, engines_with_fakes, post_all, quiet_appliance, until, wake
from tests.test_pipeline import make

LOOPBACK_ANY_PORT = MetricsSettings(listen="127.0.0.1:0")


async def scrape(port: int) -> dict[str, list]:
    """Samples by metric family name (as the parser names them: counters without ``_total``)."""

    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return reply.read().decode()

    text = await asyncio.wait_for(asyncio.to_thread(get), 10)
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list, sample: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, f"no sample {sample}{labels}"
    return found[0]


async def test_voice_turns_fill_the_stage_histograms():
    pipeline, bus = make()
    bus.bind(asyncio.get_running_loop())
    metrics = MetricsFeature(
        LOOPBACK_ANY_PORT, bus, snapshot=lambda: {"healthy": True}, generation=lambda: None, models=lambda: []
    )
    await metrics.start()
    follower = asyncio.create_task(metrics.loops()["metrics"]())
    runner = asyncio.create_task(pipeline.run())
    try:
        turns = 3
        for n in range(1, turns + 1):
            post_all(pipeline, wake(capture_id=n), began(capture_id=n), ended(capture_id=n, at_s=3.0))
            await until(lambda n=n: len(pipeline.history) == n, timeout=10, what=f"turn {n}")
        bus.publish(ErrorRaised(code="stt-failed", message="test"))
        await until(lambda: metrics.errors.labels("stt-failed")._value.get() == 1, timeout=5, what="error counted")
        families = await scrape(metrics.port)
        assert value(families["appliance_turns"], "appliance_turns_total", outcome="answered") == turns
        stages = families["appliance_stage_seconds"]
        for stage in ("endpoint", "stt", "llm_first_token", "tts_first_audio", "speech_end_to_first_audio"):
            assert value(stages, "appliance_stage_seconds_count", stage=stage) == turns, stage
        assert value(stages, "appliance_stage_seconds_bucket", stage="stt", le="+Inf") == turns
        assert value(families["appliance_wake_detections"], "appliance_wake_detections_total", model="hey_jarvis") == 3
        assert value(families["appliance_errors"], "appliance_errors_total", code="stt-failed") == 1
        assert value(families["appliance_healthy"], "appliance_healthy") == 1
        assert value(families["process_resident_memory_bytes"], "process_resident_memory_bytes") > 10e6
        assert "process_cpu_seconds" in families
    finally:
        runner.cancel()
        follower.cancel()
        await metrics.stop()


@asynccontextmanager
async def serving_metrics(
    registry: ModelRegistry, state_dir: Path, llm: LanguageModel | None = None
) -> AsyncIterator[tuple[Appliance, int]]:
    """A running in-process appliance (fake engines but ``llm``) serving its metrics; yields it and the port."""
    settings = Settings(paths=PathSettings(state_dir=str(state_dir)), metrics=LOOPBACK_ANY_PORT)
    app = quiet_appliance(settings, engines_with_fakes(registry, llm=llm), registry, metrics=True)
    runner = asyncio.create_task(app.run())
    try:
        feature = app.feature(MetricsFeature)
        assert feature is not None
        await until(lambda: feature.port != 0, timeout=20, what="metrics served")
        yield app, feature.port
    finally:
        app.stop()
        await asyncio.wait_for(runner, 20)


@pytest.mark.integration
async def test_the_running_appliance_serves_its_metrics(registry, tmp_path: Path):
    async with serving_metrics(registry, tmp_path) as (app, port):
        for _ in range(2):
            await asyncio.wait_for(app.commands.execute("ask", {"text": "Tell me a joke."}), 20)  # the LLM answers
        families = await scrape(port)
        assert value(families["appliance_turns"], "appliance_turns_total", outcome="answered") == 2
        stages = families["appliance_stage_seconds"]
        assert value(stages, "appliance_stage_seconds_count", stage="llm_first_token") == 2
        sha = registry.spec("smollm2-135m").files[0].sha256
        info = families["appliance_model_info"]
        assert value(info, "appliance_model_info", role="llm", name="smollm2-135m", sha256=sha) == 1
        assert value(families["appliance_memory_rows"], "appliance_memory_rows") >= 0
        assert value(families["appliance_mqtt_outbox"], "appliance_mqtt_outbox") == 0
        assert app.status()["metrics"]["port"] == port


async def test_an_address_that_cannot_be_bound_is_a_configuration_error():
    with_port = MetricsFeature(
        LOOPBACK_ANY_PORT,
        None,
        snapshot=dict,
        generation=lambda: None,
        models=lambda: [],  # type: ignore[arg-type]
    )
    await with_port.start()
    try:
        taken = MetricsSettings(listen=f"127.0.0.1:{with_port.port}")
        clash = MetricsFeature(taken, None, snapshot=dict, generation=lambda: None, models=lambda: [])  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"metrics\.listen") as err:
            await clash.start()
        assert err.value.exit_code == 78
    finally:
        await with_port.stop()


@pytest.mark.parametrize("listen", ["9464", "localhost:", "host:port", "127.0.0.1:70000", ":9464"])
def test_a_listen_address_that_is_not_host_port_is_refused(listen: str):
    with pytest.raises(ConfigError, match="metrics"):
        settings_from_dict({"metrics": {"listen": listen}})


def test_empty_turns_the_endpoint_off():
    assert settings_from_dict({"metrics": {"listen": ""}}).metrics.listen == ""


def test_the_plot_reads_one_stage_out_of_cumulative_buckets():
    from appliance.bench.metrics_plot import stage_buckets

    text = "\n".join(
        [
            "# TYPE appliance_stage_seconds histogram",
            'appliance_stage_seconds_bucket{le="1.0",stage="stt"} 5.0',
            'appliance_stage_seconds_bucket{le="1.0",stage="speech_end_to_first_audio"} 1.0',
            'appliance_stage_seconds_bucket{le="2.0",stage="speech_end_to_first_audio"} 3.0',
            'appliance_stage_seconds_bucket{le="+Inf",stage="speech_end_to_first_audio"} 4.0',
            'appliance_stage_seconds_count{stage="speech_end_to_first_audio"} 4.0',
            'appliance_stage_seconds_sum{stage="speech_end_to_first_audio"} 6.0',
            "",
        ]
    )
    assert stage_buckets(text, "speech_end_to_first_audio") == [(1.0, 1.0), (2.0, 2.0), (float("inf"), 1.0)]


def test_the_daemon_stops_with_78_naming_the_key_before_loading_models(tmp_path: Path):
    import os
    import socket
    import subprocess
    import sys

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "APPLIANCE_METRICS_LISTEN": f"127.0.0.1:{port}",
            "APPLIANCE_PATHS_STATE_DIR": str(tmp_path),
            "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path),
        }
        run = subprocess.run(
            [sys.executable, "-m", "appliance", "run", "--input", str(tmp_path / "none.wav")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 78, run.stderr[-2000:]
    assert f"metrics.listen = '127.0.0.1:{port}' cannot be bound" in run.stderr
    assert "Loaded" not in run.stderr  # refused before a single model was loaded


def test_tokens_are_counted_once_per_generation():
    from appliance.core.events import TurnFinished

    class Stats:
        completion_tokens = 7

    current = Stats()
    metrics = MetricsFeature(
        LOOPBACK_ANY_PORT,
        None,  # type: ignore[arg-type]
        snapshot=dict,
        generation=lambda: current,
        models=lambda: [],
    )
    metrics.observe(TurnFinished(turn_id=1, outcome="answered"))
    metrics.observe(TurnFinished(turn_id=2, outcome="answered", reply="from an intent: no generation"))
    assert metrics.tokens._value.get() == 7
    current = Stats()
    metrics.observe(TurnFinished(turn_id=3, outcome="answered"))
    assert metrics.tokens._value.get() == 14
    from appliance.core.events import ModelSwapped

    metrics.observe(ModelSwapped(role="llm", model="copy", previous="smollm2-135m"))
    assert metrics.swaps.labels("llm")._value.get() == 1


def test_the_default_endpoint_is_loopback_and_the_unit_still_fences_the_network():
    from appliance.settings import listen_address

    assert listen_address(MetricsSettings().listen) == ("127.0.0.1", 9464)
    unit = (Path(__file__).resolve().parent.parent / "systemd" / "appliance.service").read_text()
    assert "IPAddressDeny=any" in unit
    allow = next(line for line in unit.splitlines() if line.startswith("IPAddressAllow="))
    assert "localhost" in allow and "0.0.0.0/0" not in allow and "any" not in allow


async def test_the_endpoint_times_out_half_sent_requests_and_caps_its_connections():
    settings = MetricsSettings(listen="127.0.0.1:0", read_timeout_s=0.3, max_connections=2)
    metrics = MetricsFeature(settings, None, snapshot=dict, generation=lambda: None, models=lambda: [])  # type: ignore[arg-type]
    await metrics.start()
    try:
        port = metrics.port
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for _reader, writer in held:
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # no blank line: never finished
        await until(lambda: metrics.status()["connections"] == 2, timeout=5, what="two held")
        extra_reader, _extra = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(extra_reader.read(), 5) == b""  # past the cap: closed at once
        assert metrics.status()["refused"] == 1
        for reader, _writer in held:  # closed after the read timeout, unanswered
            assert await asyncio.wait_for(reader.read(), 5) == b""
        assert metrics.status()["connections"] == 0
        assert "process_cpu_seconds" in await scrape(port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 404 ")
        for _reader, writer in held:
            writer.close()
    finally:
        await metrics.stop()


async def test_a_large_exposition_arrives_whole():
    metrics = MetricsFeature(LOOPBACK_ANY_PORT, None, snapshot=dict, generation=lambda: None, models=lambda: [])  # type: ignore[arg-type]
    for n in range(3000):  # about 200 KB of samples: more than the socket buffers hold
        metrics.errors.labels(f"code-{n:04d}").inc()
    await metrics.start()
    try:
        families = await scrape(metrics.port)
        assert value(families["appliance_errors"], "appliance_errors_total", code="code-2999") == 1
    finally:
        await metrics.stop()
