"""Audio Home Assistant asks this appliance to play: fetched from Home Assistant only, bounded, decoded.

A URL is fetched only over ``http`` or ``https``, only from the host the API connection
comes from (Home Assistant itself: its TTS, its media and its ffmpeg proxy), without
following redirects, within a size and a time limit.  Nothing is written to disk.  WAV
(what this appliance's media player asks for) is decoded here; MP3, FLAC and Ogg, if Home
Assistant sends them anyway, go through ``ffmpeg`` on the bytes in memory: an argument list,
its input format named, only the ``pipe`` protocol allowed, so a playlist cannot make it open
a file or a URL.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from appliance.audio.buffer import resample
from appliance.core.errors import ApplianceError

FFMPEG_FORMATS = {
    b"ID3": "mp3",
    b"\xff\xfb": "mp3",
    b"\xff\xf3": "mp3",
    b"\xff\xf2": "mp3",
    b"fLaC": "flac",
    b"OggS": "ogg",
}


class MediaError(ApplianceError):
    """An announcement's audio could not be fetched or decoded."""


@dataclass(frozen=True)
class MediaPolicy:
    """Where audio may come from and how much of it."""

    peer: str
    """The address of the API client (Home Assistant): the only host audio is fetched from."""
    max_bytes: int
    timeout_s: float


async def fetch(url: str, policy: MediaPolicy) -> bytes:
    """The body of ``url`` (http/https, from the peer's host only); MediaError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError("esphome-media-url", f"only http and https URLs are played, not {parts.scheme or url[:32]!r}")
    address = await asyncio.to_thread(_checked_address, parts.hostname, policy.peer)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_get, parts.scheme, address, parts.hostname, port, path, policy), policy.timeout_s
        )
    except asyncio.TimeoutError:
        raise MediaError("esphome-media-timeout", f"the audio took over {policy.timeout_s:g} s to fetch") from None


def _checked_address(host: str, peer: str) -> str:
    """The address to connect to: ``host``'s, when it is the peer's.

    A peer on loopback is Home Assistant on this machine: its URLs name any of this
    machine's own addresses (its LAN address, as its ``internal_url`` does).
    """
    want = _plain(peer)
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as err:
        raise MediaError("esphome-media-url", f"the audio's host {host!r} does not resolve: {err}") from None
    for info in infos:
        address = _plain(str(info[4][0]))
        if address == want or (_is_loopback(want) and _is_own(address)):
            return str(info[4][0])
    raise MediaError(
        "esphome-media-host", f"audio is fetched only from Home Assistant's own host ({peer}), not {host!r}"
    )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _is_own(address: str) -> bool:
    """True when ``address`` is one of this machine's (a socket can be bound to it)."""
    if _is_loopback(address):
        return True
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


def _plain(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _get(scheme: str, address: str, host: str, port: int, path: str, policy: MediaPolicy) -> bytes:
    if scheme == "https":  # the certificate names the host: connect by name
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=policy.timeout_s)
    else:  # by the address checked, so a second look-up cannot point elsewhere
        conn = http.client.HTTPConnection(address, port, timeout=policy.timeout_s)
    try:
        conn.request("GET", path, headers={"Host": host if port in (80, 443) else f"{host}:{port}"})
        response = conn.getresponse()
        if response.status != 200:
            raise MediaError("esphome-media-http", f"Home Assistant answered {response.status} for the audio")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > policy.max_bytes:
            raise MediaError("esphome-media-too-large", f"the audio is {length} bytes, over {policy.max_bytes}")
        body = response.read(policy.max_bytes + 1)
        if len(body) > policy.max_bytes:
            raise MediaError("esphome-media-too-large", f"the audio is over {policy.max_bytes} bytes")
        return body
    except (OSError, http.client.HTTPException) as err:
        raise MediaError("esphome-media-fetch", f"the audio could not be fetched: {err}") from None
    finally:
        conn.close()


async def decode(data: bytes, rate: int, *, timeout_s: float) -> np.ndarray:
    """Mono int16 samples at ``rate`` Hz from WAV (or, through ffmpeg, MP3, FLAC, Ogg)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        pcm = parse_wav(data)
        if pcm is not None:
            samples, source_rate = pcm
            return resample(samples, source_rate, rate) if source_rate != rate else samples
    kind = next((fmt for magic, fmt in FFMPEG_FORMATS.items() if data.startswith(magic)), None)
    if data[:4] == b"RIFF":
        kind = "wav"
    if kind is None:
        raise MediaError("esphome-media-format", "the audio is not WAV, MP3, FLAC or Ogg")
    return await asyncio.to_thread(_ffmpeg, data, kind, rate, timeout_s)


def parse_wav(data: bytes) -> tuple[np.ndarray, int] | None:
    """(mono int16, rate) of 16-bit PCM WAV; None for another encoding.

    A streamed WAV's unknown sizes (0 or 0xFFFFFFFF) are read to the end of the bytes.
    """
    pos, fmt, channels, rate = 12, None, 1, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes are the tag
                tag = struct.unpack_from("<H", data, body + 24)[0]
            fmt = (tag, bits)
        elif chunk == b"data":
            if fmt != (1, 16) or not channels or not rate:
                return None
            end = min(len(data), body + size) if size not in (0, 0xFFFFFFFF) else len(data)
            end -= (end - body) % (2 * channels)
            samples = np.frombuffer(data[body:end], dtype="<i2").reshape(-1, channels)
            mono = samples[:, 0] if channels == 1 else samples.mean(axis=1)
            return mono.astype(np.int16), rate
        pos = body + size + (size & 1)
    return None


def _ffmpeg(data: bytes, kind: str, rate: int, timeout_s: float) -> np.ndarray:
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise MediaError("esphome-media-format", f"{kind} audio needs ffmpeg, which is not installed")
    args = [binary, "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "pipe"]
    args += ["-f", kind, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"]
    try:
        done = subprocess.run(args, input=data, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError("esphome-media-format", f"decoding the {kind} audio took over {timeout_s:g} s") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()[-200:]
        raise MediaError("esphome-media-format", f"the {kind} audio does not decode: {reason}")
    return np.frombuffer(done.stdout[: len(done.stdout) // 2 * 2], dtype="<i2").astype(np.int16)
