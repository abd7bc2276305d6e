"""The benchmark's stage timeline of one conversation, as a PNG (matplotlib, from the dev extras)."""

from __future__ import annotations

from pathlib import Path

from appliance.cli.converse import ConverseResult


def plot_timeline(result: ConverseResult, path: Path) -> None:
    """One conversation's stages on a time axis where 0 is the end of the request's speech."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    turn = result.turns[0]
    data = result.turn_summary(turn)
    wall = result.wall_of
    zero = wall(data["speech_end_s"])
    m = turn.marks
    rows: list[tuple[str, list[tuple[float, float]], str]] = [
        ("audio in", [(wall(s) - zero, wall(e) - zero) for s, e in result.segments], "tab:gray"),
        ("listening", [(turn.wake_mono - zero, turn.endpoint_mono - zero)], "tab:blue"),
    ]
    if m is not None and m.stt_done is not None:
        rows.append(("speech-to-text", [(m.started - zero, m.stt_done - zero)], "tab:orange"))
    if m is not None and m.llm_started is not None and m.llm_done is not None:
        rows.append(("LLM", [(m.llm_started - zero, m.llm_done - zero)], "tab:green"))
    if m is not None:
        rows.append(("TTS", [(s - zero, e - zero) for s, e in m.tts_spans], "tab:purple"))
    if turn.first_audio_mono is not None:
        end = turn.playback_end_mono or turn.done_mono or turn.first_audio_mono
        rows.append(("audio out", [(turn.first_audio_mono - zero, end - zero)], "tab:red"))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for i, (label, spans, colour) in enumerate(reversed(rows)):
        ax.broken_barh([(s, max(e - s, 0.01)) for s, e in spans], (i - 0.35, 0.7), color=colour)
        ax.text(-0.02, i, label, ha="right", va="center", transform=ax.get_yaxis_transform())
    ax.axvline(0, color="black", lw=1)
    ax.axvline(turn.wake_mono - zero, color="tab:blue", ls="--", lw=1)
    if m is not None and m.llm_first_token is not None:
        ax.axvline(m.llm_first_token - zero, color="tab:green", ls=":", lw=1)
    if turn.first_audio_mono is not None:
        ax.axvline(turn.first_audio_mono - zero, color="tab:red", ls="--", lw=1)
        latency = turn.first_audio_mono - zero
        ax.set_title(f'"{turn.transcript}": end of speech (0 s) -> first reply audio {latency:.2f} s')
    ax.set_yticks([])
    ax.set_xlabel("seconds relative to the end of the request's speech")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
