"""The AllenSDK cache is checked before use: clear errors, and no file of the cache is ever lost."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile
from helpers import TINY_SESSION, digest, session_nwb

from meiflow.io.allen_cache import (
    CacheError,
    check_cache,
    download_session,
    load_scene_templates,
    load_session,
    preserved_files,
)

pytestmark = pytest.mark.slow


def test_the_simulated_cache_is_complete(tiny_cache):
    assert (
        check_cache(tiny_cache, TINY_SESSION, range(118))
        == (tiny_cache / "manifest.json").resolve()
    )


@pytest.mark.parametrize("name", ["sessions.csv", "probes.csv", "channels.csv", "units.csv"])
def test_a_missing_csv_is_a_clear_error_and_the_nwb_survives(cache_copy, name):
    (cache_copy / name).unlink()
    before = digest(cache_copy)
    with pytest.raises(CacheError, match=name):
        load_session(cache_copy, TINY_SESSION)
    assert digest(cache_copy) == before


def test_an_unknown_session_id_is_a_clear_error(cache_copy):
    before = digest(cache_copy)
    with pytest.raises(CacheError, match="session 123 is not in the cache's sessions.csv"):
        load_session(cache_copy, 123)
    assert digest(cache_copy) == before


def test_a_manifest_pointing_elsewhere_is_refused(cache_copy, tmp_path):
    manifest = cache_copy / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"spec": "."', f'"spec": "{tmp_path}"', 1))
    with pytest.raises(CacheError, match="BASEDIR"):
        check_cache(cache_copy, TINY_SESSION)


def test_a_corrupt_nwb_is_a_clear_error(cache_copy):
    nwb = session_nwb(cache_copy)
    nwb.write_bytes(b"not an hdf5 file")
    with pytest.raises(CacheError, match="not an HDF5 file"):
        load_session(cache_copy, TINY_SESSION)
    assert nwb.read_bytes() == b"not an hdf5 file"


def test_a_truncated_nwb_is_a_clear_error(cache_copy):
    nwb = session_nwb(cache_copy)
    nwb.write_bytes(nwb.read_bytes()[: nwb.stat().st_size // 3])
    before = digest(cache_copy)
    with pytest.raises(CacheError, match="truncated or corrupt"):
        load_session(cache_copy, TINY_SESSION)
    assert digest(cache_copy) == before


def test_a_missing_scene_template_is_a_clear_error(cache_copy):
    (cache_copy / "natural_scene_templates" / "natural_scene_7.tiff").unlink()
    with pytest.raises(CacheError, match="natural scene template 7"):
        load_scene_templates(cache_copy, TINY_SESSION, range(118))


def test_a_scene_template_of_the_wrong_size_is_a_clear_error(cache_copy):
    template = cache_copy / "natural_scene_templates" / "natural_scene_3.tiff"
    tifffile.imwrite(template, np.zeros((100, 120), dtype=np.uint8))
    before = digest(cache_copy)
    with pytest.raises(
        CacheError, match=r"most are \(918, 1174\), but .*natural_scene_3.tiff is \(100, 120\)"
    ):
        load_scene_templates(cache_copy, TINY_SESSION, range(5))
    assert digest(cache_copy) == before


def test_download_without_network_fails_fast_and_keeps_the_cache(cache_copy):
    (cache_copy / "units.csv").unlink()  # incomplete: a download would be needed
    before = digest(cache_copy)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot reach"):
        download_session(cache_copy, TINY_SESSION, range(118), timeout_s=3)
    assert time.monotonic() - started < 10
    assert digest(cache_copy) == before


def test_a_complete_cache_needs_no_download(cache_copy):
    before = digest(cache_copy)
    manifest = download_session(cache_copy, TINY_SESSION, range(118), timeout_s=1)
    assert manifest == (cache_copy / "manifest.json").resolve()
    assert digest(cache_copy) == before


def test_preserved_files_puts_back_what_was_deleted(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "session.nwb").write_bytes(b"precious")
    with pytest.raises(RuntimeError), preserved_files(tmp_path):
        (tmp_path / "a" / "session.nwb").unlink()
        raise RuntimeError("download failed")
    assert (tmp_path / "a" / "session.nwb").read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]
