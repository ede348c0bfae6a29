"""Compare two workflow results trees value by value: every NetCDF variable and every CSV cell.

    python tools/compare_results.py BEFORE/results AFTER/results [--rename old=new ...]

Attributes are left out (they hold provenance: versions, times, paths). Values must be equal
exactly, NaN equal to NaN; a variable or column renamed between the trees is matched with
``--rename old=new``. Prints one line per file and exits 1 on any difference or missing file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr


def equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Exactly equal arrays (same shape; NaN equal to NaN for floats)."""
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def compare_netcdf(before: Path, after: Path, rename: dict[str, str]) -> list[str]:
    """Names of the variables and coordinates of ``before`` that differ in ``after``."""
    with xr.open_dataset(before) as a, xr.open_dataset(after) as b:
        problems = []
        for name in [*a.coords, *a.data_vars]:
            new = rename.get(str(name), str(name))
            if new not in b.variables:
                problems.append(f"{name}: missing")
            elif tuple(rename.get(d, d) for d in a[name].dims) != b[new].dims:
                problems.append(f"{name}: dims {a[name].dims} vs {b[new].dims}")
            elif not equal(a[name].to_numpy(), b[new].to_numpy()):
                problems.append(f"{name}: values differ")
        return problems


def compare_csv(before: Path, after: Path, rename: dict[str, str]) -> list[str]:
    a, b = pd.read_csv(before), pd.read_csv(after).rename(columns={v: k for k, v in rename.items()})
    problems = [f"{c}: missing" for c in a.columns if c not in b.columns]
    for column in a.columns.intersection(b.columns):
        if len(a) != len(b) or not equal(a[column].to_numpy(), b[column].to_numpy()):
            problems.append(f"{column}: values differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--rename", nargs="*", action="extend", default=[], help="old=new variable or column"
    )
    args = parser.parse_args()
    rename = dict(item.split("=", 1) for item in args.rename)
    files = sorted(
        p.relative_to(args.before)
        for p in args.before.rglob("*")
        if p.suffix in (".nc", ".csv") and "benchmarks" not in p.parts
    )
    failed = 0
    for relative in files:
        target = args.after / relative
        if not target.exists():
            problems = ["file missing"]
        elif relative.suffix == ".nc":
            problems = compare_netcdf(args.before / relative, target, rename)
        else:
            problems = compare_csv(args.before / relative, target, rename)
        failed += bool(problems)
        print(
            f"{'DIFFERS' if problems else 'equal  '} {relative}"
            + "".join(f"\n    {p}" for p in problems)
        )
    print(f"{len(files) - failed} of {len(files)} files equal")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
