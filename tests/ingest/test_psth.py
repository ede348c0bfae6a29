"""Tests of meiflow.ingest.psth against direct loops, scipy and synthetic populations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from meiflow.ingest.counts import count_spikes
from meiflow.ingest.psth import binned_activity, psth, response_latency, signal_psth, smooth

# Dyadic bins and onsets: every edge onset + window + k * bin is exact in binary.
BIN = 2.0**-5
WINDOW = (-0.125, 0.375)


def dyadic_session(seed: int, n_units: int = 5, n_presentations: int = 40):
    """Spike times on a 2**-9 s grid (many exactly on bin edges), back-to-back onsets 0.25 s
    apart (so the windows of neighbouring presentations overlap), and a silent unit."""
    rng = np.random.default_rng(seed)
    onsets = 1.0 + 0.25 * np.arange(n_presentations)
    end = onsets[-1] + 1.0
    spikes = [
        np.unique(np.round(rng.uniform(0, end, rng.integers(50, 400)) * 512) / 512)
        for _ in range(n_units - 1)
    ]
    spikes.append(np.array([]))
    return spikes, onsets


def loop_counts(spikes, onsets, bin_s, window_s):
    """(n_presentations, n_bins, n_units) counts by plain loops over everything."""
    n_bins = int(round((window_s[1] - window_s[0]) / bin_s))
    counts = np.zeros((len(onsets), n_bins, len(spikes)), dtype=np.int64)
    for i, onset in enumerate(onsets):
        for k in range(n_bins):
            lo = onset + (window_s[0] + k * bin_s)
            hi = onset + (window_s[0] + (k + 1) * bin_s)
            for u, times in enumerate(spikes):
                for t in times:
                    if lo <= t < hi:
                        counts[i, k, u] += 1
    return counts


@pytest.mark.parametrize("max_elements", [2**23, 7])
def test_psth_equals_a_loop_over_presentations_and_spikes(max_elements):
    spikes, onsets = dyadic_session(0)
    rates, centers = psth(spikes, onsets, BIN, WINDOW, max_elements=max_elements)
    expected = loop_counts(spikes, onsets, BIN, WINDOW).sum(axis=0).T / (len(onsets) * BIN)
    assert rates.shape == (5, 16)
    np.testing.assert_array_equal(rates, expected)
    np.testing.assert_array_equal(centers, WINDOW[0] + BIN / 2 + BIN * np.arange(16))
    assert rates[-1].sum() == 0


def test_psth_edge_cases():
    spikes, onsets = dyadic_session(1)
    rates, centers = psth(spikes, onsets[:0], BIN, WINDOW)
    assert rates.shape == (5, 16) and np.isnan(rates).all()
    rates, centers = psth([], onsets, BIN, WINDOW)
    assert rates.shape == (0, 16) and centers.shape == (16,)
    with pytest.raises(ValueError, match="whole number"):
        psth(spikes, onsets, 0.03, WINDOW)


def test_signal_psth_equals_a_direct_computation():
    spikes, onsets = dyadic_session(2, n_presentations=60)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 6, onsets.size)
    labels[0] = 99  # an image shown once is left out
    signal, _ = signal_psth(spikes, onsets, labels, BIN, WINDOW, max_elements=50)
    counts = loop_counts(spikes, onsets, BIN, WINDOW) / BIN
    means, noise = [], []
    for image in np.unique(labels):
        trials = counts[labels == image]
        if len(trials) >= 2:
            means.append(trials.mean(axis=0))
            noise.append(trials.var(axis=0, ddof=1) / len(trials))
    expected = (np.var(means, axis=0, ddof=1) - np.mean(noise, axis=0)).T
    np.testing.assert_allclose(signal, expected, rtol=1e-9, atol=1e-6)
    few, _ = signal_psth(spikes, onsets, np.zeros(onsets.size), BIN, WINDOW)
    assert np.isnan(few).all()


@pytest.mark.parametrize(("bin_s", "sd_s"), [(0.005, 0.01), (0.005, 0.013), (0.01, 0.004)])
def test_smooth_matches_scipy_gaussian_filter(bin_s, sd_s):
    rates = np.random.default_rng(3).gamma(2.0, 5.0, (4, 90))
    expected = gaussian_filter1d(rates, sd_s / bin_s, axis=-1, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(smooth(rates, bin_s, sd_s), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(smooth(rates[0], bin_s, sd_s), expected[0], rtol=1e-12)


def test_smooth_preserves_the_sum_and_constants():
    rates = np.zeros((3, 100))
    rates[:, 30:70] = np.random.default_rng(4).poisson(20.0, (3, 40))  # zero near the edges
    smoothed = smooth(rates, 0.005, 0.01)  # radius 8 bins
    np.testing.assert_allclose(smoothed.sum(axis=1), rates.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(smooth(np.full(50, 7.0), 0.005, 0.02), 7.0, rtol=1e-12)
    np.testing.assert_array_equal(smooth(rates, 0.005, 0.0), rates)


def poisson_spikes(rng, rate_fn, rate_max, n_units, end):
    """Spike trains of rate ``rate_fn(unit, times)`` by thinning a ``rate_max`` Poisson process."""
    spikes = []
    for u in range(n_units):
        times = np.sort(rng.uniform(0, end, rng.poisson(rate_max * end)))
        keep = rng.uniform(0, rate_max, times.size) < rate_fn(u, times)
        spikes.append(times[keep])
    return spikes


def step_population(latency, seed, n_responsive=20, n_silent=10, back_to_back=False):
    """Units at 5 Hz that respond during [onset + latency, onset + latency + 0.25) s.

    Isolated presentations (1 s apart): every responsive unit steps up by 5-30 Hz. Back to back
    (0.25 s apart, 12 images in random order): the step depends on the image, so the mean rate
    is the same before and after onset and only the image-conditioned rates change.
    """
    rng = np.random.default_rng(seed)
    n_presentations = 1200 if back_to_back else 300
    period = 0.25 if back_to_back else 1.0
    onsets = 1.0 + period * np.arange(n_presentations)
    labels = rng.integers(0, 12, n_presentations)
    gain = np.zeros((n_responsive + n_silent, 12))
    if back_to_back:
        gain[:n_responsive] = rng.uniform(0.0, 30.0, (n_responsive, 12))
    else:
        gain[:n_responsive] = rng.uniform(5.0, 30.0, (n_responsive, 1))

    def rate(u, t):
        i = np.clip(np.searchsorted(onsets + latency, t, side="right") - 1, 0, None)
        inside = t - (onsets[i] + latency) < 0.25
        inside &= t >= onsets[0] + latency
        return 5.0 + np.where(inside, gain[u, labels[i]], 0.0)

    spikes = poisson_spikes(rng, rate, 40.0, n_responsive + n_silent, onsets[-1] + 1.0)
    return spikes, onsets, labels


@pytest.mark.parametrize("latency", [0.04, 0.07])
def test_latency_of_a_step_response_is_recovered(latency):
    spikes, onsets, _ = step_population(latency, seed=int(latency * 100))
    rates, centers = psth(spikes, onsets)
    assert abs(response_latency(rates, centers) - latency) < 0.01
    given = np.arange(30) < 20
    assert abs(response_latency(rates, centers, responsive=given) - latency) < 0.01


@pytest.mark.parametrize("latency", [0.04, 0.07])
def test_latency_of_back_to_back_presentations_needs_the_signal_psth(latency):
    spikes, onsets, labels = step_population(latency, seed=5, back_to_back=True)
    rates, centers = psth(spikes, onsets)
    assert np.isnan(response_latency(rates, centers))  # the mean PSTH is flat
    signal, centers = signal_psth(spikes, onsets, labels)
    assert abs(response_latency(signal, centers) - latency) < 0.01


def test_no_response_gives_nan():
    rng = np.random.default_rng(6)
    onsets = 1.0 + np.arange(300.0)
    spikes = poisson_spikes(rng, lambda u, t: np.full(t.shape, 5.0), 5.0, 20, 302.0)
    rates, centers = psth(spikes, onsets)
    assert np.isnan(response_latency(rates, centers))
    silent, centers = psth([np.array([])] * 3, onsets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(response_latency(silent, centers))


@pytest.mark.parametrize("max_elements", [2**23, 5])
def test_binned_activity_equals_count_spikes_and_a_loop(max_elements):
    spikes, _ = dyadic_session(7)
    counts, starts = binned_activity(spikes, 2.0, 7.05, 0.5, max_elements=max_elements)
    assert counts.shape == (5, 10)  # the partial last bin [7.0, 7.05) is left out
    np.testing.assert_array_equal(starts, 2.0 + 0.5 * np.arange(10))
    np.testing.assert_array_equal(counts, count_spikes(spikes, starts, starts + 0.5).T)
    loop = [[sum(a <= t < a + 0.5 for t in times) for a in starts] for times in spikes]
    np.testing.assert_array_equal(counts, loop)
    assert counts.dtype.kind == "i"
    empty, starts = binned_activity(spikes, 2.0, 2.2, 0.5)
    assert empty.shape == (5, 0) and starts.shape == (0,)
