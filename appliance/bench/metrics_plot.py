"""Draw one stage's latency histogram from a live metrics endpoint (``python -m appliance.bench.metrics_plot``).

Reads the daemon's own ``appliance_stage_seconds`` buckets, so the picture is
what Prometheus would store, not a separate measurement.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

DEFAULT_STAGE = "speech_end_to_first_audio"


def stage_buckets(text: str, stage: str) -> list[tuple[float, float]]:
    """(upper bound in seconds, turns in that bucket alone) from an exposition's cumulative buckets."""
    cumulative: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        if family.name != "appliance_stage_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("stage") == stage:
                cumulative.append((float(sample.labels["le"]), sample.value))
    cumulative.sort()
    out, below = [], 0.0
    for bound, count in cumulative:
        out.append((bound, count - below))
        below = count
    return out


def plot(buckets: list[tuple[float, float]], stage: str, path: Path, *, note: str = "") -> None:
    """A bar per bucket, labelled by its upper bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labels = [f"≤{b:g}" if b != float("inf") else ">last" for b, _ in buckets]
    counts = [c for _, c in buckets]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(range(len(counts)), counts, color="tab:blue")
    ax.set_xticks(range(len(counts)), labels, rotation=45, ha="right")
    ax.set_xlabel("seconds (bucket upper bound)")
    ax.set_ylabel("turns")
    total = int(sum(counts))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f'appliance_stage_seconds{{stage="{stage}"}}: {total} turns' + (f"\n{note}" if note else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.bench.metrics_plot", description=__doc__)
    parser.add_argument("url", help="the metrics endpoint (http://127.0.0.1:9464/metrics) or a saved scrape")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    parser.add_argument("--note", default="", help="added to the title (machine, load)")
    args = parser.parse_args(argv)
    if args.url.startswith(("http://", "https://")):
        with urllib.request.urlopen(args.url, timeout=10) as reply:  # noqa: S310 - an operator-given local URL
            text = reply.read().decode()
    else:
        text = Path(args.url).read_text(encoding="utf-8")
    buckets = stage_buckets(text, args.stage)
    if not buckets:
        print(f"no {args.stage!r} histogram at {args.url}", file=sys.stderr)
        return 1
    plot(buckets, args.stage, args.out, note=args.note)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
