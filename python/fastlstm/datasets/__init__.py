"""Small data sets shipped with fastlstm, for examples and demos: NumPy arrays, nothing to
download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["co2"]

_HERE = Path(__file__).resolve().parent


def co2() -> tuple[np.ndarray, np.ndarray]:
    """The weekly Mauna Loa atmospheric CO2 record, 1958-03-29 to 2001-12-29 (2,284 weeks).

    Returns ``(dates, ppm)``: ``dates`` is datetime64[D], one Saturday per week and increasing by
    exactly 7 days; ``ppm`` is float64, the CO2 mole fraction in parts per million.

    Source: the Scripps Institution of Oceanography flask record (Keeling and Whorf, 2004, via
    CDIAC), public domain, as distributed with statsmodels (``statsmodels.datasets.co2``). The
    original has 59 missing weeks (the longest gap is 18 weeks, in 1964); here they are filled by
    linear interpolation in time between the nearest observed weeks before and after, so that
    the series is complete and evenly spaced, which windowed models need.
    """
    # Plain NumPy rather than pandas, so the package keeps NumPy as its only dependency.
    table = np.loadtxt(
        _HERE / "co2_weekly.csv",
        delimiter=",",
        skiprows=2,  # the source comment and the column names
        dtype=[("date", "datetime64[D]"), ("ppm", np.float64)],
        encoding="utf-8",
    )
    return table["date"].copy(), table["ppm"].copy()
