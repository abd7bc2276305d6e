"""Reading and writing WAV files with clear errors for what the pipeline can't take."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np

from appliance.audio import SAMPLE_RATE, SAMPLE_WIDTH
from appliance.audio.buffer import resample
from appliance.core.errors import AudioError

_LOGGER = logging.getLogger(__name__)


def read_wav(path: Path | str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono 16-bit PCM at ``rate`` (other rates are resampled); anything else is refused."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, file_rate, n = wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
            raw = wav.readframes(n)
    except FileNotFoundError as err:
        raise AudioError("wav-missing", f"{path} does not exist") from err
    except (wave.Error, EOFError, ValueError) as err:
        raise AudioError("wav-corrupt", f"{path} is not a readable PCM WAV file ({err})") from err
    except OSError as err:
        raise AudioError("wav-unreadable", f"{path}: {err.strerror or err}") from err
    if width != SAMPLE_WIDTH:
        raise AudioError(
            "wav-format",
            f"{path} has {width * 8}-bit samples; 16-bit PCM is needed (convert: sox {path.name} -b 16 out.wav)",
        )
    if channels != 1:
        raise AudioError(
            "wav-format",
            f"{path} has {channels} channels; mono is needed (convert: sox {path.name} -c 1 out.wav)",
        )
    if len(raw) != n * width * channels:
        raise AudioError("wav-corrupt", f"{path} is truncated: header says {n} frames, found {len(raw) // width}")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if file_rate != rate:
        _LOGGER.info("Resampling %s from %d Hz to %d Hz", path.name, file_rate, rate)
        samples = resample(samples, file_rate, rate)
    return samples


def write_wav(path: Path | str, samples: np.ndarray, rate: int) -> None:
    """Write mono 16-bit PCM."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())


class WavWriter:
    """Incremental WAV writer (header fixed up on close)."""

    def __init__(self, path: Path | str, rate: int) -> None:
        self.path = Path(path)
        self.rate = rate
        self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(rate)
        self.samples_written = 0

    def write(self, samples: np.ndarray) -> None:
        self._wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())
        self.samples_written += len(samples)

    def close(self) -> None:
        self._wav.close()
