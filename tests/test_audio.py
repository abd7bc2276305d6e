"""Buffers, WAV handling and the file/stream sources and sinks."""

from __future__ import annotations

import io
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES
from appliance.audio.buffer import (
    Framer,
    FrameRing,
    SampleRing,
    StreamResampler,
    resample,
)
from appliance.audio.sink import WavSink
from appliance.audio.source import ArraySource, PcmStreamSource
from appliance.audio.wav import read_wav, write_wav
from appliance.core.errors import AudioError


def test_frame_ring_drops_oldest_and_never_blocks():
    ring = FrameRing(capacity=4, frame_samples=3)
    for i in range(6):
        ring.write(np.full(3, i, dtype=np.int16))
    assert ring.dropped == 2
    out = np.zeros(3, dtype=np.int16)
    got = []
    while ring.read_into(out, timeout=0.01):
        got.append(int(out[0]))
    assert got == [2, 3, 4, 5]


def test_frame_ring_wakes_a_waiting_reader():
    ring = FrameRing(capacity=4, frame_samples=3)
    out = np.zeros(3, dtype=np.int16)
    threading.Timer(0.05, ring.write, args=(np.ones(3, dtype=np.int16),)).start()
    assert ring.read_into(out, timeout=2.0)
    assert out.tolist() == [1, 1, 1]


def test_sample_ring_keeps_the_newest():
    ring = SampleRing(seconds=0.001, rate=5000)  # 5 samples
    ring.extend(np.arange(3, dtype=np.int16))
    ring.extend(np.arange(3, 7, dtype=np.int16))
    assert ring.latest().tolist() == [2, 3, 4, 5, 6]
    assert ring.latest(2).tolist() == [5, 6]


def test_framer():
    framer = Framer(4)
    assert [f.tolist() for f in framer.push(np.arange(6, dtype=np.int16))] == [[0, 1, 2, 3]]
    assert [f.tolist() for f in framer.push(np.arange(6, 9, dtype=np.int16))] == [[4, 5, 6, 7]]
    assert framer.flush().tolist() == [8, 0, 0, 0]


def test_resampling_keeps_a_tone():
    t = np.arange(48000) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    out = resample(tone, 48000, 16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1
    stream = StreamResampler(48000, 16000)
    pieces = [stream.process(tone[i : i + 3840]) for i in range(0, 48000, 3840)]
    pieces.append(stream.process(np.zeros(0, dtype=np.int16), last=True))
    assert abs(sum(len(p) for p in pieces) - 16000) <= 2


def _wav(path: Path, *, rate=16000, width=2, channels=1, frames=1600) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x01" * frames * width * channels)
    return path


def test_wav_other_rate_is_resampled(tmp_path):
    samples = read_wav(_wav(tmp_path / "a.wav", rate=8000, frames=8000))
    assert len(samples) == 16000


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"channels": 2}, "2 channels; mono is needed"), ({"width": 1}, "8-bit samples; 16-bit PCM is needed")],
)
def test_wav_formats_we_refuse(tmp_path, kwargs, needle):
    with pytest.raises(AudioError, match=needle):
        read_wav(_wav(tmp_path / "b.wav", **kwargs))


def test_corrupt_and_truncated_wav(tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError) as info:
        read_wav(junk)
    assert info.value.code == "wav-corrupt"
    good = _wav(tmp_path / "c.wav", frames=16000)
    data = good.read_bytes()
    truncated = tmp_path / "t.wav"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        read_wav(truncated)
    with pytest.raises(AudioError, match="does not exist"):
        read_wav(tmp_path / "nope.wav")


def test_array_source_paces_like_a_microphone():
    source = ArraySource(np.zeros(FRAME_SAMPLES * 5, dtype=np.int16), realtime=True, tail_s=0)
    source.open()
    out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    start = time.monotonic()
    frames = 0
    with pytest.raises(EOFError):
        while True:
            frames += source.read_into(out, timeout=1.0)
    assert frames == 5
    assert time.monotonic() - start == pytest.approx(0.4, abs=0.08)


def test_pcm_stream_source_reads_frames_until_eof():
    pcm = np.arange(FRAME_SAMPLES * 2, dtype=np.int16).tobytes()
    source = PcmStreamSource(io.BytesIO(pcm))
    source.open()
    out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    assert source.read_into(out, 1.0) and out[0] == 0
    assert source.read_into(out, 1.0) and out[0] == FRAME_SAMPLES
    with pytest.raises(EOFError):
        source.read_into(out, 1.0)


def test_wav_sink_writes_and_stop_drops_queued_audio(tmp_path):
    sink = WavSink(tmp_path / "out.wav", realtime=True)
    sink.play(np.ones(16000, dtype=np.int16) * 100, 16000)  # one second
    time.sleep(0.2)
    sink.stop()
    sink.close()
    written = read_wav(tmp_path / "out.wav")
    assert 0.1 < len(written) / 16000 < 0.5


def test_wav_sink_volume_and_rate(tmp_path):
    sink = WavSink(tmp_path / "v.wav", volume=50)
    sink.play(np.full(22050, 1000, dtype=np.int16), 22050)
    sink.close()
    with wave.open(str(tmp_path / "v.wav")) as w:
        assert w.getframerate() == 22050
    assert int(read_wav(tmp_path / "v.wav", rate=22050).max()) == 250
    write_wav(tmp_path / "w.wav", np.zeros(10, dtype=np.int16), 16000)
