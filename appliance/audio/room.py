"""A simulated room around the appliance: its own voice comes back into its microphone.

For the echo benchmark and tests.  :class:`LoopbackRoom` is an
:class:`~appliance.audio.source.AudioSource` paced like a microphone whose
signal is the user's speech (clips placed with :meth:`LoopbackRoom.say`), a
faint noise floor, and the echo: every block the sink plays (its reference
tap) is resampled to 16 kHz, convolved with a room impulse response, scaled
and added at the moment it was played.  The canceller is told nothing about
the room: it sees only the sink's PCM, as on a device.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE
from appliance.audio.echo import EchoCanceller
from appliance.audio.sink import DUCK_GAIN

NOISE_FLOOR_DBFS = -70.0
"""RMS of the microphone's own hiss in the simulated room."""


def room_response(
    seed: int, *, delay_s: float = 0.03, decay_s: float = 0.05, drr_db: float = 6.0, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A generated room impulse response: a direct path after ``delay_s``, then exponentially decaying
    noise (``decay_s`` is its 1/e time: RT60 ≈ 6.9 × decay_s) ``drr_db`` below the direct path in energy;
    scaled to unit energy, so the echo's level is the playback's."""
    rng = np.random.default_rng(seed)
    start, tail = int(delay_s * rate), int(8 * decay_s * rate)
    decay = np.exp(-np.arange(tail) / (decay_s * rate))
    reverb = rng.standard_normal(tail) * decay
    reverb[0] = 0.0
    reverb *= np.sqrt(10 ** (-drr_db / 10) / np.sum(reverb**2))
    rir = np.zeros(start + tail)
    rir[start:] = reverb
    rir[start] = 1.0
    return rir / np.sqrt(np.sum(rir**2))


class _SpeakerPath:
    """The physical path's rate conversion to 16 kHz: soxr "LQ", steady blocks (emerging 12 ms late, early
    enough for a 30 ms path) and not the canceller's own quick cubic, so the reference is never the echo's twin.

    In float32, as sound in the air is: soxr dithers a 16-bit stream's output with noise seeded from the
    clock, and that ±1 LSB of the echo was enough to decide whether a wake word over it was heard."""

    def __init__(self, rate: int) -> None:
        import soxr

        self._stream = None
        if rate != SAMPLE_RATE:
            self._stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="LQ")

    def process(self, samples: np.ndarray) -> np.ndarray:
        wet = samples.astype(np.float32)
        return wet if self._stream is None else self._stream.resample_chunk(wet)


def dbfs(samples: np.ndarray) -> float:
    """RMS level of the voiced part (20 ms blocks within 30 dB of the loudest), dB re full scale."""
    step = SAMPLE_RATE // 50
    n = len(samples) // step
    if n == 0:
        return -120.0
    power = np.mean(samples[: n * step].astype(np.float64).reshape(n, step) ** 2, axis=1) / 32768.0**2
    voiced = power[power > power.max() * 1e-3]
    return float(10 * np.log10(np.mean(voiced) + 1e-12))


class LoopbackRoom:
    """Microphone = user speech + the sink's output through ``rir`` × ``echo_gain`` + noise floor."""

    def __init__(self, seconds: float, rir: np.ndarray, *, echo_gain: float, seed: int = 0) -> None:
        self.name = "room"
        self.realtime = True
        self.rir = rir
        self.echo_gain = echo_gain
        n = int(seconds * SAMPLE_RATE) + len(rir)
        self.user = np.zeros(n, dtype=np.float32)
        self.echo = np.zeros(n, dtype=np.float32)
        """The echo alone, on the microphone timeline (ERLE is measured against it)."""
        rng = np.random.default_rng(seed)
        self._noise = (rng.standard_normal(n) * 32768 * 10 ** (NOISE_FLOOR_DBFS / 20)).astype(np.float32)
        self.mic = np.zeros(n, dtype=np.int16)
        """Everything delivered to the appliance, as it was delivered."""
        self.pos = 0
        self._start = 0.0
        self._lock = threading.Lock()
        self._path = _SpeakerPath(SAMPLE_RATE)
        self._in_next: float | None = None
        self._out_next = 0
        self.last_played_mono = -1.0

    # -- the room -----------------------------------------------------------------
    def say(self, clip: np.ndarray, at_s: float) -> None:
        """Place the user's speech at ``at_s`` on the microphone timeline (not already delivered)."""
        i = max(int(at_s * SAMPLE_RATE), self.pos + FRAME_SAMPLES)
        end = min(i + len(clip), len(self.user))
        if end <= i:  # past the end of this room's timeline (a session whose barge-ins all failed ran long)
            return
        self.user[i:end] += clip[: end - i]

    def played(self, samples: np.ndarray, rate: int, at_mono: float) -> None:
        """The sink's reference tap: what the speaker emitted comes back through the room."""
        stamped = (at_mono - self._start) * SAMPLE_RATE
        if self._in_next is None or abs(stamped - self._in_next) > 0.03 * SAMPLE_RATE:
            self._path = _SpeakerPath(rate)  # a new stream (first block, or after a gap)
            self._in_next, self._out_next = stamped, round(stamped)
        self._in_next += len(samples) * SAMPLE_RATE / rate
        wet = self._path.process(samples)
        if not len(wet):
            return
        conv = np.convolve(wet.astype(np.float32), self.rir.astype(np.float32)) * self.echo_gain
        with self._lock:
            i = max(self._out_next, self.pos)  # late: it can only reach audio not yet delivered
            end = min(i + len(conv), len(self.echo))
            self.echo[i:end] += conv[: end - i]
        self._out_next += len(wet)
        self.last_played_mono = at_mono

    def at_s(self, mono: float) -> float:
        """Microphone-timeline seconds of a monotonic time."""
        return mono - self._start

    # -- the AudioSource side -----------------------------------------------------
    def open(self) -> None:
        self._start = time.monotonic()

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        if self.pos + len(out) > len(self.mic):
            raise EOFError
        delay = self._start + (self.pos + len(out)) / SAMPLE_RATE - time.monotonic()
        if delay > timeout:
            time.sleep(timeout)
            return False
        if delay > 0:
            time.sleep(delay)
        a, b = self.pos, self.pos + len(out)
        with self._lock:
            mixed = self.user[a:b] + self.echo[a:b] + self._noise[a:b]
            self.pos = b
        out[:] = np.clip(mixed, -32768, 32767).astype(np.int16)
        self.mic[a:b] = out
        return True

    def close(self) -> None:
        pass


class SimulatedLoop:
    """The same loop on a simulated clock, as fast as the CPU allows (tests, and the self-wake hour).

    A reply is played in the sink's 20 ms blocks (dipped while the canceller reports someone talking,
    as :meth:`AudioSink.duck` does), each block goes to the canceller's reference tap and back through
    the room into the microphone, and every 80 ms frame goes to ``process(frame, heard_mono)``.
    """

    def __init__(self, rir: np.ndarray, *, echo_gain: float, canceller: EchoCanceller | None, seed: int = 0) -> None:
        self.rir = rir.astype(np.float32)
        self.echo_gain = echo_gain
        self.canceller = canceller
        self.seed = seed
        self.stopped = False
        """Set it (from ``process``'s side, e.g. on a wake word) to stop the playback: barge-in."""
        self._duck_until = -1.0
        if canceller is not None:
            canceller.on_near_end = self._duck
        self._now = 0.0

    def _duck(self, seconds: float) -> None:
        self._duck_until = self._now + seconds

    def run(
        self,
        reply: np.ndarray,
        rate: int,
        user: np.ndarray,
        process: Callable[[np.ndarray, float], None],
        *,
        reply_at_s: float = 0.5,
        clock_s: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Play ``reply`` from ``reply_at_s`` while ``user`` (16 kHz, the whole timeline) is spoken; returns the
        microphone signal, the same after ``process`` (cleaned in place) and the echo alone.  ``clock_s`` is
        the simulated monotonic time the timeline starts at (later than the last run's end, to run again)."""
        n = len(user) // FRAME_SAMPLES * FRAME_SAMPLES
        echo = np.zeros(n + len(self.rir) + SAMPLE_RATE, dtype=np.float32)
        noise = np.random.default_rng(self.seed).standard_normal(n) * 32768 * 10 ** (NOISE_FLOOR_DBFS / 20)
        mic, cleaned = np.zeros(n, dtype=np.int16), np.zeros(n, dtype=np.int16)
        block, pos = int(rate * 0.02), 0
        path = _SpeakerPath(rate)
        played_16k = 0
        for start in range(0, n, FRAME_SAMPLES):
            self._now = clock_s + start / SAMPLE_RATE
            frame_end = self._now + FRAME_SAMPLES / SAMPLE_RATE
            while not self.stopped and pos < len(reply) and clock_s + reply_at_s + pos / rate < frame_end:
                at = clock_s + reply_at_s + pos / rate
                chunk = reply[pos : pos + block].astype(np.float32)
                if at < self._duck_until:
                    chunk *= DUCK_GAIN
                samples = chunk.astype(np.int16)
                if self.canceller is not None:
                    self.canceller.played(samples, rate, at)
                wet = path.process(samples)
                i = round(reply_at_s * SAMPLE_RATE) + played_16k
                played_16k += len(wet)
                pos += block
                if not len(wet):
                    continue
                conv = np.convolve(wet.astype(np.float32), self.rir) * self.echo_gain
                echo[i : i + len(conv)] += conv[: len(echo) - i]
            end = start + FRAME_SAMPLES
            frame = np.clip(user[start:end] + echo[start:end] + noise[start:end], -32768, 32767).astype(np.int16)
            mic[start:end] = frame
            process(frame, self._now)
            cleaned[start:end] = frame
        return mic, cleaned, echo[:n]
