"""Forecasting the Mauna Loa CO2 record with an LSTM, against naive baselines.

The same as ``python -m fastlstm demo``; the code and its description are in
``fastlstm/demo.py`` (``python co2_forecast.py --help`` lists the options).

Usage:
    python co2_forecast.py [--epochs 20] [--units 32] [--window 52] [--seed 0]
                           [--out co2_forecast.png]
"""

from __future__ import annotations

import sys

from fastlstm.demo import main

if __name__ == "__main__":
    main(sys.argv[1:], prog="python co2_forecast.py")
