"""Model swaps: the checks (pure), the state file, and the swap itself in a running appliance.

The swap tests use the real LLM (SmolLM2 through llama-cpp-python): a corrupt GGUF is refused while
the old model keeps answering, a copy of the default GGUF is swapped in while a conversation runs
(0 failed turns), rolled back, and remembered for the next start.
"""

from __future__ import annotations

import asyncio
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from appliance.core.errors import CommandError
from appliance.core.events import ModelSwapped
from appliance.engines.llm.local import LlamaLlm
from appliance.models.swap.checks import (
    SwapError,
    check_budget,
    check_model,
)
from appliance.models.swap.cost import LoadCost
from appliance.models.swap.state import ModelState, Selection
from appliance.runtime.app import Appliance
from appliance.settings import (
    LlmSettings,
    ModelSwapSettings,
    PathSettings,
    Settings,
)
from tests.daemon_support import daemon_env, start_daemon, wait_until_up
from tests.fakes import engines_with_fakes, quiet_appliance, started, until

# -- checks ---------------------------------------------------------------------------


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("role", "name", "data", "code"),
    [
        ("tts", "voice.gguf", b"GGUF\x03\x00\x00\x00rest", "model-wrong-kind"),  # an LLM given as a voice
        ("stt", "model.gguf", b"GGUF\x03\x00\x00\x00rest", "model-wrong-kind"),
        ("llm", "broken.gguf", b"\x00\x01garbage", "model-corrupt"),
        ("llm", "notes.txt", b"hello", "model-wrong-kind"),
        ("tts", "voice.onnx", b"\x08\x07onnx", "model-wrong-kind"),  # no .onnx.json beside it
        ("wake", "word.tflite", b"12345678", "model-wrong-kind"),
        ("stt", "model.bin", b"weights", "model-wrong-kind"),  # a file, not a CTranslate2 directory
    ],
)
def test_a_file_of_the_wrong_kind_is_refused(registry, tmp_path: Path, role, name, data, code):
    with pytest.raises(SwapError) as err:
        check_model(role, str(_file(tmp_path / name, data)), registry)
    assert err.value.code == code


def test_names_roles_and_paths_that_do_not_fit(registry, tmp_path: Path):
    for role, ref, code in [
        ("camera", "smollm2-135m", "unknown-role"),
        ("llm", str(tmp_path / "absent.gguf"), "model-missing"),
        ("llm", "en_US-joe-medium", "model-wrong-kind"),  # a manifest voice is not a language model
    ]:
        with pytest.raises(SwapError) as err:
            check_model(role, ref, registry)
        assert err.value.code == code, ref


def test_a_manifest_model_is_checked_by_its_sha256(registry):
    candidate = check_model("llm", "smollm2-135m", registry)
    assert candidate.sha256 == registry.spec("smollm2-135m").files[0].sha256 and candidate.size > 50e6


def test_a_piper_voice_needs_its_config(tmp_path: Path, registry):
    voice = _file(tmp_path / "v.onnx", b"\x08\x07onnx")
    (tmp_path / "v.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    assert check_model("tts", str(voice), registry).name == "v"
    (tmp_path / "v.onnx.json").write_text("{not json")
    with pytest.raises(SwapError, match="JSON") as err:
        check_model("tts", str(voice), registry)
    assert err.value.code == "model-corrupt"


def test_the_budget_counts_the_new_model_and_the_margin():
    cost = LoadCost(weights=700 * 2**20, kv_cache=150 * 2**20, buffers=30 * 2**20, template=20 * 2**20)
    check_budget("x", cost, 100, available=1001 * 2**20)
    with pytest.raises(SwapError) as err:
        check_budget("x", cost, 100, available=999 * 2**20)
    assert err.value.code == "model-over-budget" and "KV cache" in err.value.message


# -- state ------------------------------------------------------------------------------


def test_a_choice_is_remembered_privately_until_the_file_changes(tmp_path: Path):
    path = tmp_path / "models" / "selected.json"
    state = ModelState(path)
    old = Selection("llm", "smollm2-135m", "smollm2-135m", "b179", "b179", 1.0, "smollm2-135m", "config")
    new = _file(tmp_path / "new.gguf", b"GGUF")
    state.record(Selection("llm", str(new), "new", "", "ab", 2.0, "smollm2-135m"), running=old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ModelState(path)
    assert again.previous["llm"].ref == "smollm2-135m" and [s.name for s in again.history] == ["new"]
    assert again.effective(Settings()).llm.model == str(new)
    edited = Settings(llm=LlmSettings(model="qwen2.5-1.5b-instruct"))  # the owner edited the file since
    assert again.effective(edited).llm.model == "qwen2.5-1.5b-instruct"


def test_a_remembered_file_that_is_gone_gives_way_to_the_config(tmp_path: Path):
    state = ModelState(tmp_path / "selected.json")
    state.record(Selection("llm", str(tmp_path / "gone.gguf"), "gone", "", "", 1.0, "smollm2-135m"), running=None)
    assert state.effective(Settings()).llm.model == "smollm2-135m"


def test_a_damaged_state_file_is_ignored(tmp_path: Path):
    path = tmp_path / "selected.json"
    path.write_text("{oops")
    assert ModelState(path).selected == {}


# -- the swap in a running appliance (real LLM) ---------------------------------------------


@pytest.fixture(scope="module")
def default_gguf(registry) -> Path:
    return registry.resolve("smollm2-135m")


@pytest.fixture
def make_app(registry, tmp_path: Path, default_gguf: Path):
    made: list[Appliance] = []

    def make(settings: Settings | None = None, config_path: Path | None = None) -> Appliance:
        settings = settings or Settings(paths=PathSettings(state_dir=str(tmp_path / "state")))
        settings = ModelState.for_settings(settings).effective(settings)  # as the daemon does
        engines = engines_with_fakes(registry, llm=LlamaLlm(registry.resolve(settings.llm.model), settings.llm))
        app = quiet_appliance(settings, engines, registry, config_path=config_path)
        made.append(app)
        return app

    return make


async def _stopped(app: Appliance, task: asyncio.Task) -> None:
    app.stop()
    await asyncio.wait_for(task, 30)


async def _ask(app: Appliance, text: str = "What is the capital of France?") -> dict:
    return await asyncio.wait_for(app.commands.execute("ask", {"text": text, "speak": False}), 60)


async def _use(app: Appliance, role: str, model: str) -> dict:
    return await asyncio.wait_for(app.commands.execute("models.use", {"role": role, "model": model}), 120)


@pytest.mark.integration
async def test_a_corrupt_gguf_is_refused_and_the_old_model_keeps_answering(make_app, tmp_path, default_gguf):
    broken = tmp_path / "broken.gguf"
    with default_gguf.open("rb") as f:
        broken.write_bytes(f.read(4096))  # a GGUF header, then nothing: an interrupted copy
    app = make_app()
    task = await started(app)
    try:
        llm = app.pipeline.llm
        with pytest.raises(CommandError) as err:
            await _use(app, "llm", str(broken))
        assert err.value.code == "model-corrupt"
        assert app.pipeline.llm is llm and (await _ask(app))["outcome"] == "answered"
        for args, code in [
            ({"role": "tts", "model": str(default_gguf)}, "model-wrong-kind"),
            ({"role": "printer", "model": "x"}, "unknown-role"),
            ({"role": "llm"}, "bad-arguments"),
        ]:
            with pytest.raises(CommandError) as err:
                await app.commands.execute("models.use", args)
            assert err.value.code == code
        assert app.status()["model_swap"]["llm"]["name"] == "smollm2-135m"
    finally:
        await _stopped(app, task)


@pytest.mark.integration
async def test_a_second_gguf_is_swapped_in_during_a_conversation_rolled_back_and_remembered(
    make_app, tmp_path, default_gguf
):
    second = tmp_path / "smollm2-copy.gguf"
    shutil.copy(default_gguf, second)
    app = make_app()
    task = await started(app)
    outcomes: list[str] = []
    try:
        stop_talking = asyncio.Event()

        async def conversation() -> None:
            while not stop_talking.is_set():
                outcomes.append((await _ask(app, "Say hi."))["outcome"])

        talker = asyncio.create_task(conversation())
        old = app.pipeline.llm
        announced = app.bus.subscribe(ModelSwapped, name="test")
        swapped = (await _use(app, "llm", str(second)))["swapped"]
        event = announced.get_nowait()
        assert (event.role, event.model, event.previous) == ("llm", "smollm2-copy", "smollm2-135m")
        turns_at_swap = len(outcomes)
        while len(outcomes) < turns_at_swap + 2:  # the conversation goes on, on the new model
            await asyncio.sleep(0.05)
        stop_talking.set()
        await asyncio.wait_for(talker, 60)
        assert outcomes and set(outcomes) == {"answered"}, outcomes  # 0 failed turns
        assert app.pipeline.llm is not old and app.status()["model_swap"]["llm"]["name"] == "smollm2-copy"
        assert swapped["previous"] == "smollm2-135m" and swapped["load_s"] > 0 and swapped["rss_peak_mb"] > 0
        state_file = app.settings.state_dir / "models" / "selected.json"
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600

        back = await asyncio.wait_for(app.commands.execute("models.rollback", {"role": "llm"}), 120)
        assert back["swapped"]["name"] == "smollm2-135m" and (await _ask(app))["outcome"] == "answered"
        await _use(app, "llm", str(second))  # the choice to remember across the restart
        history = (await app.commands.execute("models.history"))["history"]
        assert [h["name"] for h in history] == ["smollm2-copy", "smollm2-135m", "smollm2-copy"]
        assert [h["via"] for h in history] == ["use", "rollback", "use"] and len(history[0]["sha256"]) == 64
    finally:
        await _stopped(app, task)

    restarted = make_app()  # the same config, a new process's worth of engines
    assert restarted.settings.llm.model == str(second)
    task = await started(restarted)
    try:
        assert restarted.status()["model_swap"]["llm"]["name"] == "smollm2-copy"
        assert (await _ask(restarted))["outcome"] == "answered"
    finally:
        await _stopped(restarted, task)


@pytest.mark.integration
async def test_reload_with_a_changed_model_swaps_it(make_app, tmp_path, default_gguf):
    second = tmp_path / "reloaded.gguf"
    shutil.copy(default_gguf, second)
    state = tmp_path / "state"
    config = tmp_path / "appliance.toml"
    config.write_text(f'[paths]\nstate_dir = "{state}"\n')
    app = make_app(Settings(paths=PathSettings(state_dir=str(state))), config_path=config)
    task = await started(app)
    try:
        config.write_text(f'[paths]\nstate_dir = "{state}"\n[llm]\nmodel = "{second}"\n')
        report = (await asyncio.wait_for(app.commands.execute("reload"), 120))["reloaded"]
        assert "llm" in report["applied"] and report["models"]["swapped"] == ["llm"]
        assert app.status()["model_swap"]["llm"]["name"] == "reloaded"
        assert (await _ask(app))["outcome"] == "answered"
        config.write_text(f'[paths]\nstate_dir = "{state}"\n[llm]\nmodel = "{tmp_path / "gone.gguf"}"\n')
        report = (await asyncio.wait_for(app.commands.execute("reload"), 120))["reloaded"]
        assert report["models"]["refused"]["llm"]["code"] == "model-missing"
        assert app.settings.llm.model == str(second) and "llm" not in report["applied"]
    finally:
        await _stopped(app, task)


@pytest.mark.integration
async def test_a_slow_or_oversized_model_is_refused(make_app, tmp_path, default_gguf):
    state = tmp_path / "state"
    strict = ModelSwapSettings(probe_max_s=0.1, memory_margin_mb=0)
    app = make_app(Settings(paths=PathSettings(state_dir=str(state)), models=strict))
    task = await started(app)
    try:
        first = asyncio.create_task(_use(app, "llm", str(default_gguf)))
        await until(lambda: app.controller.models.busy, timeout=10, what="swap started")  # type: ignore[union-attr]
        with pytest.raises(CommandError) as err:
            await _use(app, "llm", str(default_gguf))
        assert err.value.code == "swap-in-progress"
        with pytest.raises(CommandError) as err:
            await first
        assert err.value.code == "model-too-slow"
        app.controller.models._available = lambda: 10 * 2**20  # type: ignore[union-attr]  # a 10 MB board
        with pytest.raises(CommandError) as err:
            await _use(app, "llm", "smollm2-135m")
        assert err.value.code == "model-over-budget"
        assert app.status()["model_swap"]["llm"]["name"] == "smollm2-135m"
    finally:
        await _stopped(app, task)


# -- the command line -------------------------------------------------------------------------


def test_history_reads_the_state_file_while_the_daemon_is_down(tmp_path: Path, monkeypatch, capsys):
    from appliance.__main__ import main

    state = tmp_path / "state"
    monkeypatch.setenv("APPLIANCE_PATHS_STATE_DIR", str(state))
    monkeypatch.setenv("APPLIANCE_PATHS_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)
    chosen = Selection("llm", "/m/copy.gguf", "copy", "", "ab" * 32, 1_700_000_000.0, "smollm2-135m")
    ModelState(state / "models" / "selected.json").record(chosen, running=None)
    assert main(["--config", str(_file(tmp_path / "empty.toml", b"")), "models", "history"]) == 0
    out = capsys.readouterr().out
    assert "llm" in out and "copy" in out and "abababab" in out
    assert main(["--config", str(tmp_path / "empty.toml"), "models", "use", "llm", "/m/copy.gguf"]) == 1
    assert "daemon-not-running" in capsys.readouterr().err


@pytest.mark.integration
async def test_every_role_swaps_with_its_real_engine_while_turns_run(registry, tmp_path: Path):
    from appliance.bench.swap import measure_swaps
    from appliance.settings import MemorySettings

    settings = Settings(paths=PathSettings(state_dir=str(tmp_path / "state")), memory=MemorySettings(enabled=False))
    result = await asyncio.wait_for(measure_swaps(settings, registry, tmp_path), 400)
    assert set(result["swaps"]) == {"llm", "stt", "tts", "wake"}
    assert result["turns_during_swaps"] >= 1 and result["turns_failed"] == 0, result
    assert all(s["probe_s"] < ModelSwapSettings().probe_max_s for s in result["swaps"].values())


# -- the real daemon ---------------------------------------------------------------------------


@pytest.mark.integration
def test_the_daemon_swaps_over_the_socket_and_keeps_the_model_after_a_restart(registry, tmp_path, default_gguf):
    import json
    import subprocess
    import sys
    import time

    from appliance.control.local_socket import ControlClient

    second = tmp_path / "daemon-copy.gguf"
    shutil.copy(default_gguf, second)
    env = daemon_env(registry.state_dir, tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "appliance", *args], env=env, capture_output=True, text=True, timeout=300
        )

    daemon = start_daemon(env, tmp_path)
    client = ControlClient(tmp_path / "run" / "control.sock", timeout=300)
    log = tmp_path / "daemon.log"
    try:
        wait_until_up(daemon, client, log)
        used = cli("models", "use", "llm", str(second))
        assert used.returncode == 0 and "smollm2-135m -> daemon-copy" in used.stdout, used.stderr
        wrong = cli("models", "use", "tts", str(second))
        assert wrong.returncode == 1 and "[model-wrong-kind]" in wrong.stderr
        assert client.call("ask", {"text": "Say hi.", "speak": False})["outcome"] == "answered"
        client.call("restart")
        deadline = time.monotonic() + 30
        while client.available():  # the old daemon's socket goes with the re-exec (models load for seconds)
            assert time.monotonic() < deadline, "the daemon did not restart"
            time.sleep(0.05)
        wait_until_up(daemon, client, log)
        status = json.loads(cli("status", "--json").stdout)
        assert status["model_swap"]["llm"]["name"] == "daemon-copy" and status["models"]["llm"] == str(second)
        assert client.call("ask", {"text": "Say hi.", "speak": False})["outcome"] == "answered"
        history = cli("models", "history")
        assert "daemon-copy" in history.stdout and history.returncode == 0
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


# -- probes -------------------------------------------------------------------------------------


class _SilentVoice:
    sample_rate = 22050

    def synthesize_all(self, text: str) -> np.ndarray:
        return np.zeros(self.sample_rate * 2, dtype=np.int16)


class _MuteLlm:
    def prefill(self, messages, cancel=None, user_start="") -> int:
        return 0

    def system_messages(self) -> list:
        return []

    def stream(self, messages, cancel, *, max_tokens=None):
        return iter(["", " "])


class _DeafStt:
    def transcribe(self, samples: np.ndarray):
        from appliance.engines.stt import SttResult

        return SttResult(text="thank you", language="en")


def test_a_probe_that_gets_no_proper_answer_fails_the_swap(voice):
    from types import SimpleNamespace

    from appliance.models.swap.roles import LlmRole, SttRole, TtsRole

    core = SimpleNamespace(pipeline=SimpleNamespace(tts=voice))
    for role, engine in ((TtsRole(), _SilentVoice()), (LlmRole(), _MuteLlm()), (SttRole(), _DeafStt())):
        with pytest.raises(SwapError) as err:
            role.probe(engine, core)  # type: ignore[arg-type]
        assert err.value.code == "model-probe-failed", type(role).__name__
    assert "speech" in TtsRole().probe(voice, core)  # type: ignore[arg-type]  # the real voice passes
