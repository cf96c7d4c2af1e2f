"""The embedded data sets load with plain NumPy and hold what their docstrings say."""

from __future__ import annotations

import numpy as np

from fastlstm.datasets import co2


def test_co2_is_complete_weekly_and_plausible():
    dates, ppm = co2()
    assert dates.dtype == np.dtype("datetime64[D]")
    assert ppm.dtype == np.float64
    assert dates.shape == ppm.shape == (2284,)
    assert dates[0] == np.datetime64("1958-03-29")
    assert dates[-1] == np.datetime64("2001-12-29")
    assert np.all(np.diff(dates) == np.timedelta64(7, "D"))
    assert not np.isnan(ppm).any()
    assert ppm.min() > 300
    assert ppm.max() < 380
