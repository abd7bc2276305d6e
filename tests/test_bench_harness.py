"""The benchmarks' shared helpers, and the benchmark package's own import graph."""

from __future__ import annotations

from appliance.bench.harness import percentile, percentiles
from appliance.bench.mqtt import rank_percentile
from tests.test_layout import GRAPH, _cycle


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == 4.8
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def test_percentiles_leave_out_missing_values() -> None:
    assert percentiles([None, 1.0, 3.0, None]) == {"p50": 2.0, "p95": 2.9, "n": 2}
    assert percentiles([None]) == {"p50": None, "p95": None, "n": 0}


def test_the_mqtt_bench_takes_the_nearest_rank() -> None:
    assert rank_percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 3.0
    assert rank_percentile([1.0, 2.0, 3.0], 0.99) == 3.0
    assert rank_percentile([], 0.5) is None


def test_no_import_loop_between_benchmarks() -> None:
    """Every benchmark imports the shared helpers from ``harness``; none imports another in a loop."""
    bench = {m for m in GRAPH if m.startswith("appliance.bench.")}
    edges = {m: GRAPH[m] & bench for m in bench}
    cycle = _cycle(edges)
    assert cycle is None, "import loop: " + " -> ".join(cycle or [])


def test_the_harness_imports_no_benchmark() -> None:
    assert not {t for t in GRAPH["appliance.bench.harness"] if t.startswith("appliance.bench.")}
