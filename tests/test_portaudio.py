"""Capture and playback through the real PortAudio/ALSA path, on file-backed ALSA test devices.

There is no sound card here, so the tests define two ALSA PCMs of type ``file``
(a capture that reads a raw file, a playback that writes one) in a private
``~/.asoundrc`` and run the appliance's MicSource/SpeakerSink against them in
a child process (PortAudio reads the ALSA configuration once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE

from .conftest import conversation

pytestmark = pytest.mark.integration

ASOUNDRC = """
pcm.appliance_test_mic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{infile}"
    format "raw"
    hint {{ show on description "test capture from a file" }}
}}
pcm.appliance_test_speaker {{
    type file
    slave.pcm "null"
    file "{outfile}"
    format "raw"
    hint {{ show on description "test playback into a file" }}
}}
"""


def run_with_alsa(tmp_path: Path, samples: np.ndarray, script: str) -> dict:
    (tmp_path / "in.raw").write_bytes(samples.astype("<i2").tobytes())
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(infile=tmp_path / "in.raw", outfile=tmp_path / "out.raw"))
    env = {**os.environ, "HOME": str(tmp_path)}
    code = textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


def test_microphone_reads_what_the_device_delivers(tmp_path):
    sent = tone(SAMPLE_RATE, 2.0)
    got = run_with_alsa(
        tmp_path,
        sent,
        """
        import json, numpy as np
        from appliance.audio.source import MicSource
        mic = MicSource("appliance_test_mic", queue_frames=4096)  # the test device is not paced
        mic.open()
        frame, frames = np.zeros(1280, np.int16), []
        while len(frames) < 20 and mic.read_into(frame, 2.0):
            frames.append(frame.copy())
        dropped = mic.dropped
        mic.close()
        print(json.dumps({"samples": np.concatenate(frames)[:16000].tolist(), "dropped": dropped}))
        """,
    )
    received = np.array(got["samples"], dtype=np.int16)
    assert got["dropped"] == 0
    assert np.array_equal(received, sent[: len(received)])


def test_microphone_at_48k_is_resampled_to_16k(tmp_path):
    got = run_with_alsa(
        tmp_path,
        tone(48_000, 2.0),
        """
        import json, numpy as np
        from appliance.audio.source import MicSource
        mic = MicSource("appliance_test_mic", capture_rate=48000, queue_frames=4096)
        mic.open()
        frame, frames = np.zeros(1280, np.int16), []
        while len(frames) < 15 and mic.read_into(frame, 2.0):
            frames.append(frame.copy())
        mic.close()
        audio = np.concatenate(frames)[4000:20000]
        peak_hz = int(np.argmax(np.abs(np.fft.rfft(audio)))) * 16000 // len(audio)
        print(json.dumps({"peak_hz": peak_hz, "n": len(audio)}))
        """,
    )
    assert abs(got["peak_hz"] - 440) <= 2


def test_speaker_plays_through_portaudio(tmp_path):
    got = run_with_alsa(
        tmp_path,
        tone(SAMPLE_RATE, 0.1),
        """
        import json, numpy as np
        from appliance.audio.sink import SpeakerSink
        sink = SpeakerSink("appliance_test_speaker", volume=100)
        sink.play(np.full(22050, 1234, np.int16), 22050)
        done = sink.wait_done(10)
        sink.close()
        print(json.dumps({"done": done, "rate": sink.rate}))
        """,
    )
    assert got == {"done": True, "rate": 22050}
    written = np.frombuffer((tmp_path / "out.raw").read_bytes(), dtype="<i2")
    assert np.count_nonzero(written == 1234) >= 22050 * 0.99


def test_speaker_comes_back_after_its_stream_dies(tmp_path):
    """A real PortAudio stream aborted under the sink (as an unplugged device ends it): reported, reopened, resumed."""
    got = run_with_alsa(
        tmp_path,
        tone(SAMPLE_RATE, 0.1),
        """
        import json, time, numpy as np
        from appliance.audio import speaker as sink_module
        from appliance.audio.sink import SpeakerSink
        sink_module.WATCH_S = 0.02
        sink = SpeakerSink("appliance_test_speaker", volume=100)
        errors = []
        sink.on_error = lambda code, message: errors.append(code)
        sink.play(np.full(4410, 1111, np.int16), 22050)
        first = sink.wait_done(10)
        sink._stream.abort()  # the stream dies under the sink
        deadline = time.monotonic() + 10
        while sink.reopened == 0 and time.monotonic() < deadline:  # lost, then reopened
            time.sleep(0.02)
        mark = sink.lost_samples
        sink.play(np.full(22050, 2222, np.int16), 22050)
        second = sink.wait_done(10)
        heard = sink.heard_since(mark)
        sink.close()
        print(json.dumps({"first": first, "second": second, "heard": heard, "errors": errors,
                          "reopened": sink.reopened}))
        """,
    )
    assert got == {"first": True, "second": True, "heard": True, "errors": ["playback-lost"], "reopened": 1}
    written = np.frombuffer((tmp_path / "out.raw").read_bytes(), dtype="<i2")
    assert np.count_nonzero(written == 2222) >= 22050 * 0.99  # playback resumed on the reopened stream


def test_wake_word_heard_through_the_microphone_path(tmp_path, speak, registry):
    audio, wake_start, wake_end = conversation(speak, speak("What time is it?"))
    got = run_with_alsa(
        tmp_path,
        audio,
        f"""
        import json, numpy as np
        from pathlib import Path
        from appliance.audio.source import MicSource
        from appliance.models.registry import ModelRegistry
        from appliance.settings import WakeSettings
        from appliance.engines.wake import load_detector
        detector = load_detector(WakeSettings(), ModelRegistry(Path({str(registry.state_dir)!r})).resolve)
        mic = MicSource("appliance_test_mic", queue_frames=4096)
        mic.open()
        frame, frames = np.zeros(1280, np.int16), []
        while len(frames) < {len(audio) // 1280} and mic.read_into(frame, 2.0):
            frames.append(frame.copy())  # this test device is not paced: collect first
        dropped = mic.dropped
        mic.close()
        hits = []
        for i, chunk in enumerate(frames, 1):
            hit = detector.process(chunk, i * 0.08)
            if hit:
                hits.append([hit.model, hit.at_s])
        print(json.dumps({{"hits": hits, "dropped": dropped}}))
        """,
    )
    assert got["dropped"] == 0
    assert [h[0] for h in got["hits"]] == ["hey_jarvis"]
    assert wake_start < got["hits"][0][1] < wake_end + 0.5
