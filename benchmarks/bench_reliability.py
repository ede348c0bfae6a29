"""Time the vectorized oracle estimators against the notebook's pandas implementation.

The notebook computed its randomized oracle with pandas at about 0.2 s per unit per pass; that
reference is not re-run here but taken as that constant (135 units x 50 passes = 1,350 s).

    python benchmarks/bench_reliability.py --units 135 --images 119 --repeats 50 --passes 50
"""

import argparse
import time
from collections.abc import Callable

import numpy as np

from meiflow.ranking.reliability import oracle_correlation, oracle_notebook

NOTEBOOK_S_PER_UNIT_PASS = 0.2
GOAL_SPEEDUP = 1000


def random_table(
    n_units: int, n_images: int, n_repeats: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts (n_images * n_repeats, n_units) in shuffled trial order; image -1 is blank.

    Mean counts per image and unit are gamma distributed (mean 2 spikes per trial).
    """
    rng = np.random.default_rng(seed)
    images = np.repeat(np.arange(n_images) - 1, n_repeats)
    rng.shuffle(images)
    rates = rng.gamma(2.0, 1.0, (n_images, n_units))
    return rng.poisson(rates[images + 1]), images


def best_time(function: Callable[[], object], runs: int) -> float:
    """Smallest wall-clock time in seconds of ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=135)
    parser.add_argument("--images", type=int, default=119, help="scenes plus the blank")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5, help="timed runs; the best is reported")
    args = parser.parse_args()

    counts, images = random_table(args.units, args.images, args.repeats)
    reference = NOTEBOOK_S_PER_UNIT_PASS * args.units * args.passes
    print(
        f"table: {counts.shape[0]:,} trials x {args.units} units, {args.images} images "
        f"x {args.repeats} repeats; notebook reference {NOTEBOOK_S_PER_UNIT_PASS} s/unit/pass "
        f"x {args.units} units x {args.passes} passes = {reference:,.0f} s"
    )
    figures = {
        "oracle_correlation (jackknife)": lambda: oracle_correlation(counts, images),
        f"oracle_notebook ({args.passes} passes)": lambda: oracle_notebook(
            counts, images, n_passes=args.passes
        ),
    }
    for name, function in figures.items():
        seconds = best_time(function, args.runs)
        speedup = reference / seconds
        verdict = "meets" if speedup >= GOAL_SPEEDUP else "MISSES"
        print(
            f"{name}: {seconds * 1e3:.1f} ms (best of {args.runs}), {speedup:,.0f}x faster "
            f"than the notebook's {reference:,.0f} s; {verdict} the {GOAL_SPEEDUP:,}x goal"
        )


if __name__ == "__main__":
    main()
