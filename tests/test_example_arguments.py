"""Every example, and ``python -m fastlstm demo``, refuses a bad command-line value with a usage
error naming the option (exit status 2, before any work), not a traceback from deep inside."""

from __future__ import annotations

import pytest

from conftest import load_example
from fastlstm import demo

BAD_RATES = [["--learning-rate", v] for v in ("-1", "0", "nan", "inf")]
NO_DIRECTORY = ["--out", "no-such-directory/plot.png"]
CASES = {
    "adding_problem": [*BAD_RATES, ["--seed", "-1"]],
    "char_lm": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY],
    "gradient_norms": [["--seed", "-1"], NO_DIRECTORY],
    "masked_classification": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY],
    "anomaly_detection": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY, ["--epochs", "0"]],
    "session_recommendation": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY, ["--units", "0"]],
    "speech_commands": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY, ["--train", "0"]],
    "activity_recognition": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY, ["--units", "0"]],
    "serving": [["--seed", "-1"], ["--threads", "0"], ["--threads", "1025"]],
    "demo": [*BAD_RATES, ["--seed", "-1"], NO_DIRECTORY],
}


@pytest.mark.parametrize(
    ("name", "args"), [(name, args) for name, cases in CASES.items() for args in cases]
)
def test_bad_values_are_usage_errors(name, args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out is looked up here
    main = demo.main if name == "demo" else load_example(name).main
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: " in error, error
    assert args[0] in error, error
