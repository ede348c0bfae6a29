"""Response timing: PSTHs, their smoothing, response latencies and binned population activity.

Spike times come as one sorted float64 array (s) per unit; every count goes through
:func:`meiflow.ingest.counts.count_spikes` (half-open windows ``[start, stop)``), called on chunks
of units and windows so that no call holds more than about ``max_elements`` (window, unit) pairs
(``count_spikes`` needs some 40 bytes per pair at its peak: the default 2**23 pairs keeps a call
near 350 MB). Nothing loops in Python over units, presentations or spikes; only over chunks.

Back-to-back presentations (the natural scenes are shown for 250 ms each with no gap) mean that
the part of a PSTH window before onset, and the part after the presentation ends, overlap the
neighbouring presentations. That is fine for a PSTH: each bin is the mean rate at that time
relative to an onset, whatever was on screen then. It has one consequence to keep in mind: if
the response to every image has the same time course and the images follow each other in random
order, the mean rate before onset (the previous image's response) equals the mean rate after
the latency (this image's response), and the mean PSTH is flat. The simulator is exactly such a
case: its units switch from the previous image's rate to the current one's at onset + latency,
without any onset transient. What does change at the latency is *which* image the rate depends
on; :func:`signal_psth` measures that (the variance across images of the image-conditioned
PSTH, corrected for trial noise), and :func:`response_latency` applies to it as to a PSTH.
Real cortical responses to scene changes do carry an onset transient, so there the mean PSTH
shows a response too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from meiflow.ingest.counts import count_spikes

__all__ = [
    "binned_activity",
    "psth",
    "response_latency",
    "signal_psth",
    "smooth",
]

#: Default bound on the (window, unit) pairs counted per ``count_spikes`` call.
MAX_ELEMENTS = 2**23


def _bin_edges(bin_s: float, window_s: tuple[float, float]) -> np.ndarray:
    """Bin edges (n_bins + 1,) s relative to onset: ``window_s[0] + k * bin_s``.

    The window must hold a whole number of bins (to 1e-6 of a bin).
    """
    start, stop = (float(w) for w in window_s)
    if not bin_s > 0:
        raise ValueError(f"bin_s must be positive, got {bin_s}")
    if not stop > start:
        raise ValueError(f"window_s must have stop > start, got {window_s}")
    n_bins = int(round((stop - start) / bin_s))
    if n_bins < 1 or abs(n_bins * bin_s - (stop - start)) > 1e-6 * bin_s:
        raise ValueError(f"window_s {window_s} is not a whole number of {bin_s} s bins")
    return start + np.arange(n_bins + 1) * bin_s


def _chunked_counts(
    spike_times: Sequence[np.ndarray],
    starts: np.ndarray,
    stops: np.ndarray,
    group: int,
    max_elements: int,
) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Count all units in all windows, chunk by chunk.

    Windows come in consecutive groups of ``group`` (the bins of one presentation) that are never
    split. Yields ``(units, windows, counts)``: the unit and window slices of the chunk and its
    (n_windows_chunk, n_units_chunk) int64 counts.
    """
    n_units, n_windows = len(spike_times), starts.size
    if n_units == 0 or n_windows == 0:
        return
    units_per = int(np.clip(max_elements // n_windows, 1, n_units))
    groups_per = max(1, max_elements // (group * units_per))
    windows_per = groups_per * group
    for u0 in range(0, n_units, units_per):
        units = slice(u0, min(u0 + units_per, n_units))
        chunk_spikes = spike_times[units]
        for w0 in range(0, n_windows, windows_per):
            windows = slice(w0, min(w0 + windows_per, n_windows))
            yield units, windows, count_spikes(chunk_spikes, starts[windows], stops[windows])


def _presentation_windows(
    onsets: np.ndarray, bin_s: float, window_s: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Absolute bin windows of every presentation, presentation-major.

    Returns ``onsets`` (n_presentations,) float64, relative ``edges`` (n_bins + 1,), and
    ``starts``, ``stops`` (n_presentations * n_bins,). A bin's stop is the next bin's start
    (both ``onset + edges[k]``), so the bins tile the window without gap or overlap.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    if onsets.ndim != 1:
        raise ValueError(f"onsets must be 1-d, got shape {onsets.shape}")
    edges = _bin_edges(bin_s, window_s)
    absolute = onsets[:, None] + edges[None, :]
    return onsets, edges, absolute[:, :-1].ravel(), absolute[:, 1:].ravel()


def psth(
    spike_times: Sequence[np.ndarray],
    onsets: np.ndarray,
    bin_s: float = 0.005,
    window_s: tuple[float, float] = (-0.1, 0.35),
    *,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Peri-stimulus time histogram of every unit.

    With back-to-back presentations the window before onset (and after the presentation's end)
    covers the neighbouring presentations; the PSTH is still the mean rate at each time relative
    to onset (see the module docstring for what that means for the latency).

    Args:
        spike_times: one sorted array of spike times (s) per unit (n_units arrays).
        onsets: (n_presentations,) onset times (s).
        bin_s: bin width (s).
        window_s: (start, stop) of the window (s) relative to each onset; a whole number of bins.
        max_elements: bound on the (window, unit) pairs of one ``count_spikes`` call (memory).

    Returns:
        rates: (n_units, n_bins) float64 Hz, the mean over presentations of the spike count in
            each half-open bin ``[onset + edge_k, onset + edge_k+1)`` divided by ``bin_s``; NaN if
            there are no presentations.
        bin_centers: (n_bins,) s relative to onset.
    """
    spike_times = list(spike_times)
    onsets, edges, starts, stops = _presentation_windows(onsets, bin_s, window_s)
    n_bins = edges.size - 1
    sums = np.zeros((len(spike_times), n_bins), dtype=np.int64)
    for units, _, counts in _chunked_counts(spike_times, starts, stops, n_bins, max_elements):
        sums[units] += counts.reshape(-1, n_bins, counts.shape[1]).sum(axis=0).T
    if onsets.size == 0:
        rates = np.full(sums.shape, np.nan)
    else:
        rates = sums / (onsets.size * bin_s)
    return rates, edges[:-1] + bin_s / 2


def signal_psth(
    spike_times: Sequence[np.ndarray],
    onsets: np.ndarray,
    labels: np.ndarray,
    bin_s: float = 0.005,
    window_s: tuple[float, float] = (-0.1, 0.35),
    *,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Stimulus-locked signal of every unit over time.

    The signal is how much the rate in each bin depends on the image shown at onset.

    For every unit and bin: the variance across images (ddof 1) of the image-conditioned mean
    rate, minus its expected trial-noise part, the mean over images of (variance across that
    image's repeats, ddof 1) / (its number of repeats). This estimates the variance of the true
    image-conditioned rates (Hz^2) without bias (it can come out negative by noise). Images with
    fewer than 2 repeats are left out; with fewer than 2 such images the result is all NaN.

    With back-to-back presentations in random order the bins before onset + latency reflect the
    previous image, unrelated to the current one, so the signal is ~0 there and rises at the
    latency, even where the mean PSTH stays flat; :func:`response_latency` applies to it.

    Args:
        spike_times: as in :func:`psth`.
        onsets: as in :func:`psth`.
        labels: (n_presentations,) image id of each presentation (e.g. the ``frame``).
        bin_s: as in :func:`psth`.
        window_s: as in :func:`psth`.
        max_elements: as in :func:`psth`.

    Returns:
        signal: (n_units, n_bins) float64, Hz^2.
        bin_centers: (n_bins,) s relative to onset.
    """
    spike_times = list(spike_times)
    onsets, edges, starts, stops = _presentation_windows(onsets, bin_s, window_s)
    labels = np.asarray(labels)
    if labels.shape != onsets.shape:
        raise ValueError(f"labels {labels.shape} must match onsets {onsets.shape}")
    n_bins, n_units = edges.size - 1, len(spike_times)
    signal = np.full((n_units, n_bins), np.nan)
    centers = edges[:-1] + bin_s / 2
    _, inverse, repeats = np.unique(labels, return_inverse=True, return_counts=True)
    used = repeats >= 2
    if used.sum() < 2:
        return signal, centers
    n_images = repeats.size
    sums = squares = None
    current = None
    for units, windows, counts in _chunked_counts(spike_times, starts, stops, n_bins, max_elements):
        if units != current:
            if current is not None:
                signal[current] = _signal_variance(sums, squares, repeats, used, bin_s, n_bins)
            current = units
            shape = (n_images, n_bins * counts.shape[1])
            sums, squares = np.zeros(shape), np.zeros(shape)
        # Presentations of this chunk and their image rows; one bincount per statistic.
        presentation = inverse[windows.start // n_bins : windows.stop // n_bins]
        width = n_bins * counts.shape[1]
        flat = (presentation[:, None] * width + np.arange(width)).ravel()
        values = counts.ravel().astype(np.float64)
        sums += np.bincount(flat, weights=values, minlength=n_images * width).reshape(shape)
        squares += np.bincount(flat, weights=values**2, minlength=n_images * width).reshape(shape)
    if current is not None:
        signal[current] = _signal_variance(sums, squares, repeats, used, bin_s, n_bins)
    return signal, centers


def _signal_variance(
    sums: np.ndarray,
    squares: np.ndarray,
    repeats: np.ndarray,
    used: np.ndarray,
    bin_s: float,
    n_bins: int,
) -> np.ndarray:
    """Noise-corrected variance across images (Hz^2).

    Computed from per-image count sums and sums of squares (n_images, n_bins * n_units), bins
    major; returns (n_units, n_bins).
    """
    n = repeats[used, None].astype(np.float64)
    sums, squares = sums[used], squares[used]
    means = sums / n
    within = np.maximum(squares - sums * means, 0.0) / (n - 1)
    between = means.var(axis=0, ddof=1)
    noise = (within / n).mean(axis=0)
    return ((between - noise) / bin_s**2).reshape(n_bins, -1).T


def _gaussian_kernel(bin_s: float, sd_s: float) -> np.ndarray:
    """Normalized Gaussian kernel of sd ``sd_s`` sampled at ``bin_s``.

    Truncated at +-4 sd (the radius ``int(4 * sd / bin_s + 0.5)`` bins, as scipy's
    ``gaussian_filter1d``); [1.0] if ``sd_s`` is 0.
    """
    if not bin_s > 0:
        raise ValueError(f"bin_s must be positive, got {bin_s}")
    if sd_s < 0:
        raise ValueError(f"sd_s must be >= 0, got {sd_s}")
    sd_bins = sd_s / bin_s
    radius = int(4.0 * sd_bins + 0.5)
    if sd_s == 0 or radius == 0:
        return np.ones(1)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sd_bins) ** 2)
    return kernel / kernel.sum()


def smooth(rates: np.ndarray, bin_s: float, sd_s: float = 0.01) -> np.ndarray:
    """Gaussian-kernel smoothing along the last axis, by convolution.

    The kernel (sd ``sd_s``, truncated at +-4 sd, normalized to sum 1) is applied to the rates
    extended at both ends by reflection about the edge (``d c b a | a b c d | d c b a``, numpy's
    ``symmetric`` padding, scipy.ndimage's ``reflect`` mode), so the edges are not pulled
    towards zero and a constant stays constant; away from the edges the sum is preserved. This
    equals ``scipy.ndimage.gaussian_filter1d(rates, sd_s / bin_s, mode="reflect")``, the
    smoothing of the Allen / Neuromatch PSTH tutorials. ``sd_s`` 0 returns a float copy.

    Returns:
        An array of the shape of ``rates``, float64.
    """
    rates = np.asarray(rates, dtype=np.float64)
    kernel = _gaussian_kernel(bin_s, sd_s)
    radius = kernel.size // 2
    if radius == 0 or rates.shape[-1] == 0:
        return rates.copy()
    n = rates.shape[-1]
    padded = np.pad(rates, [(0, 0)] * (rates.ndim - 1) + [(radius, radius)], mode="symmetric")
    out = np.zeros(rates.shape)
    for k, weight in enumerate(kernel):  # a loop over the kernel's taps
        out += weight * padded[..., k : k + n]
    return out


def _z_traces(
    rates: np.ndarray, bin_centers: np.ndarray, sd_s: float, search_s: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Smoothed traces z-scored against their own pre-onset baseline.

    Baseline: the bins that end at or before onset (time 0); at least two are needed. Each row
    is smoothed with :func:`smooth` and its baseline mean (of the unsmoothed bins) subtracted;
    it is divided by the sd this difference has for noise independent across bins (as for
    Poisson counts): ``sd * sqrt(sum(kernel**2) + 1 / n_baseline)``, ``sd`` the baseline bins'
    sd (ddof 1); the second term is the noise of the baseline mean, shared by all bins of a row.
    Rows with a constant or non-finite baseline (or any non-finite rate) are NaN.

    Returns z (n_rows, n_bins), the bin centres, the baseline mask and the first and last bin
    index of the search window (bin centres within ``search_s``).
    """
    rates = np.atleast_2d(np.asarray(rates, dtype=np.float64))
    centers = np.asarray(bin_centers, dtype=np.float64)
    if rates.ndim != 2 or centers.ndim != 1 or rates.shape[1] != centers.size:
        raise ValueError(
            f"rates {rates.shape} must be (n_units, n_bins) with bin_centers {centers.shape}"
        )
    if centers.size < 2:
        raise ValueError("need at least two bins")
    steps = np.diff(centers)
    bin_s = float(steps.mean())
    if bin_s <= 0 or not np.allclose(steps, bin_s, rtol=1e-6, atol=0.0):
        raise ValueError("bin_centers must be increasing and evenly spaced")
    baseline = centers + bin_s / 2 <= 1e-6 * bin_s
    n_base = int(baseline.sum())
    if n_base < 2:
        raise ValueError("need at least two bins before onset (time 0) for the baseline")
    search = np.flatnonzero((centers >= search_s[0]) & (centers <= search_s[1]))
    if search.size == 0:
        raise ValueError(f"no bin centre within search_s {search_s}")
    kernel = _gaussian_kernel(bin_s, sd_s)
    finite = np.isfinite(rates).all(axis=1, keepdims=True)
    safe = np.where(finite, rates, 0.0)
    base = safe[:, baseline]
    mean = base.mean(axis=1, keepdims=True)
    sd = np.sqrt(((base - mean) ** 2).sum(axis=1, keepdims=True) / (n_base - 1))
    scale = sd * np.sqrt(np.sum(kernel**2) + 1.0 / n_base)
    valid = finite & (scale > 0)
    z = np.divide(
        smooth(safe, bin_s, sd_s) - mean, scale, out=np.full(rates.shape, np.nan), where=valid
    )
    return z, centers, baseline, int(search[0]), int(search[-1])


def _half_rise(
    z: np.ndarray,
    centers: np.ndarray,
    baseline: np.ndarray,
    first: int,
    last: int,
    fraction: float,
) -> np.ndarray:
    """Latency of each (finite) row.

    The latency is the time the trace rises through ``base + fraction * (peak - base)`` on its way
    to its peak.

    ``peak``: the maximum over the search bins ``first..last``; ``base``: the mean over the
    baseline bins. The crossing is the last bin below the level before the peak (from the bin
    just before the search window on), linearly interpolated to the next bin. NaN where the
    peak does not exceed the base or no such bin exists (already above the level throughout).
    """
    n_rows, n_bins = z.shape
    rows = np.arange(n_rows)
    peak_at = first + np.argmax(z[:, first : last + 1], axis=1)
    peak = z[rows, peak_at]
    base = z[:, baseline].mean(axis=1)
    level = base + fraction * (peak - base)
    index = np.arange(n_bins)
    below = (z < level[:, None]) & (index >= max(first - 1, 0)) & (index < peak_at[:, None])
    j = np.where(below, index, -1).max(axis=1)
    ok = (j >= 0) & (peak > base)
    j = np.where(ok, j, 0)
    k = np.minimum(j + 1, n_bins - 1)
    y0, y1 = z[rows, j], z[rows, k]
    step = np.divide(level - y0, y1 - y0, out=np.zeros(n_rows), where=ok & (y1 > y0))
    return np.where(ok, centers[j] + step * (centers[k] - centers[j]), np.nan)


def _search_max(z: np.ndarray, first: int, last: int) -> np.ndarray:
    """Maximum of every row over the search bins; -inf for rows that are not finite there."""
    window = z[:, first : last + 1]
    finite = np.isfinite(window).all(axis=1)
    return np.where(finite, np.where(finite[:, None], window, 0.0).max(axis=1), -np.inf)


def response_latency(
    rates: np.ndarray,
    bin_centers: np.ndarray,
    sd_s: float = 0.01,
    z_threshold: float = 5.0,
    fraction: float = 0.5,
    search_s: tuple[float, float] = (0.0, 0.25),
    responsive: np.ndarray | None = None,
) -> float:
    """Population response latency (s).

    The latency is the half-rise time of the mean z-scored PSTH of the responsive units.

    Rule:

    1. Every unit's PSTH is smoothed (:func:`smooth`, sd ``sd_s``) and z-scored against its own
       baseline, the bins that end at or before onset: minus the baseline mean, divided by the
       sd that difference has under independent bin noise (baseline sd times
       ``sqrt(sum(kernel**2) + 1 / n_baseline_bins)``). Units with a constant baseline (e.g.
       silent) are left out.
    2. Is there a response at all? The sum of the z-scores of the units (all of them, or those
       of the ``responsive`` mask) divided by the square root of their number, a z-score of
       the population under independent units, must reach ``z_threshold`` somewhere in the
       search window (bin centres within ``search_s``, by default the 250 ms of a
       presentation); otherwise NaN.
    3. Responsive units: those whose own z-score reaches ``z_threshold`` in the search window,
       unless a ``responsive`` mask is given. Only rises count: a unit that is only suppressed
       is not responsive.
    4. The z-scores of the responsive units are averaged (each unit weighs the same whatever its
       rate), and the latency is the time this population trace rises through ``fraction``
       (half) of its peak rise over its baseline mean: the last bin below that level before the
       peak, linearly interpolated to the next bin. For a step response smoothed by the
       symmetric kernel this is the step's time whatever the step's size. NaN if no unit is
       responsive or the trace is above the level from before onset to the peak.

    With back-to-back presentations the baseline is the end of the previous presentation's
    response; the rule measures the rise over it. Where the mean rate does not change at onset
    (random image order, no onset transient: the simulator), the mean PSTH is flat and the
    answer is NaN: use :func:`signal_psth`, whose rise marks the latency.

    Args:
        rates: (n_units, n_bins) or (n_bins,) *unsmoothed* PSTH (Hz), as from :func:`psth`, or
            any time course of the same layout, e.g. :func:`signal_psth`. For rates smoothed
            already pass ``sd_s=0``: the z-scale then assumes independent bins, which they are
            not, so the tests of steps 2-3 get more permissive (the half-rise time itself is
            unaffected).
        bin_centers: (n_bins,) evenly spaced, s relative to onset; at least two bins must end by 0.
        sd_s: as described above (step 1).
        z_threshold: as described above (steps 2 and 3).
        fraction: as described above (step 4).
        search_s: as described above (step 2).
        responsive: optional (n_units,) bool mask of the units to use, instead of the selection of
            step 3 (e.g. chosen by another criterion).
    """
    z, centers, baseline, first, last = _z_traces(rates, bin_centers, sd_s, search_s)
    valid = np.isfinite(z).all(axis=1)
    if responsive is None:
        tested = valid
        chosen = _search_max(z, first, last) >= z_threshold
    else:
        tested = chosen = np.asarray(responsive, dtype=bool).reshape(-1) & valid
    if not chosen.any():
        return float("nan")
    population_z = z[tested].sum(axis=0, keepdims=True) / np.sqrt(tested.sum())
    if _search_max(population_z, first, last)[0] < z_threshold:
        return float("nan")
    population = z[chosen].mean(axis=0, keepdims=True)
    return float(_half_rise(population, centers, baseline, first, last, fraction)[0])


def binned_activity(
    spike_times: Sequence[np.ndarray],
    start_s: float,
    stop_s: float,
    bin_s: float = 0.1,
    *,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts of every unit in consecutive bins over ``[start_s, stop_s)``.

    Bins are ``[start_s + k * bin_s, start_s + (k + 1) * bin_s)`` for the whole bins that fit
    (to 1e-6 of a bin); a trailing partial bin is left out.

    Returns:
        counts: (n_units, n_bins) int64.
        bin_starts: (n_bins,) s.
    """
    if not bin_s > 0:
        raise ValueError(f"bin_s must be positive, got {bin_s}")
    spike_times = list(spike_times)
    n_bins = max(0, int(np.floor((stop_s - start_s) / bin_s + 1e-6)))
    edges = start_s + np.arange(n_bins + 1) * bin_s
    counts = np.zeros((len(spike_times), n_bins), dtype=np.int64)
    for units, windows, chunk in _chunked_counts(
        spike_times, edges[:-1], edges[1:], 1, max_elements
    ):
        counts[units, windows] = chunk.T
    return counts, edges[:-1]
