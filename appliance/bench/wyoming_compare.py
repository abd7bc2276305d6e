"""What the Wyoming bench compares: requests sent to two servers in turn, and the report of both sides.

Shared by the direct comparison (``wyoming.py``) and the one through Home Assistant (``wyoming_ha.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.bench.harness import percentiles


async def alternate(ours: Any, peer: Any, items: list[Any], measure: Any) -> dict[str, list[dict[str, Any]]]:
    """Each item to both servers (``measure(server, item)``), the order swapped every item, after one
    warm-up request each."""
    await measure(ours, items[0])
    await measure(peer, items[0])
    out: dict[str, list[dict[str, Any]]] = {"appliance": [], "peer": []}
    for i, item in enumerate(items):
        order = [("appliance", ours), ("peer", peer)]
        for side, port in order if i % 2 == 0 else order[::-1]:
            out[side].append(await measure(port, item))
    return out


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours is not None and theirs else None


def compare(rows: dict[str, list[dict[str, Any]]], key: str) -> dict[str, Any]:
    """Both sides' percentiles of ``key``, the ratio of their p50s and the p50 of the per-request ratios."""
    mine, theirs = (percentiles([r[key] for r in rows[side]]) for side in ("appliance", "peer"))
    per_request = [_ratio(a[key], b[key]) for a, b in zip(rows["appliance"], rows["peer"], strict=True)]
    return {
        "appliance": mine,
        "peer": theirs,
        "ratio_p50": _ratio(mine["p50"], theirs["p50"]),
        "ratio_per_request_p50": percentiles(per_request)["p50"],
    }


def asr_report(rows: dict[str, list[dict[str, Any]]], clips: list[np.ndarray]) -> dict[str, Any]:
    """Transcribe times of both sides over ``clips``, and how far their transcripts differ."""
    agree = [_word_error(a["text"], b["text"]) for a, b in zip(rows["appliance"], rows["peer"], strict=True)]
    return {
        "requests": len(clips),
        "audio_s": percentiles([len(c) / SAMPLE_RATE for c in clips]),
        "transcribe_s": compare(rows, "seconds"),
        "word_difference_p50": percentiles(agree)["p50"],
        "texts": [
            {"appliance": a["text"], "peer": b["text"]} for a, b in zip(rows["appliance"], rows["peer"], strict=True)
        ],
    }


def _word_error(hypothesis: str, reference: str) -> float:
    """Word edit distance over the reference's length (the two servers' transcripts against each other)."""
    hyp, ref = (["".join(ch for ch in w.lower() if ch.isalnum()) for w in t.split()] for t in (hypothesis, reference))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return round(row[-1] / max(1, len(ref)), 3)
