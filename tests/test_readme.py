"""The README's quickstart runs exactly as written."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(capsys):
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", quickstart, re.DOTALL).group(1)
    exec(compile(code, "README quickstart", "exec"), {})  # noqa: S102 (our own README)
    assert capsys.readouterr().out.strip() == "(8, 20, 32) (16, 128) (32, 128) (128,)"


def test_keras_example_runs(capsys, tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text.split("### As a Keras user", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)  # it saves a file
    exec(compile(code, "README Keras example", "exec"), {})  # noqa: S102 (our own README)
    assert capsys.readouterr().out.strip() == "(3, 2)"
    assert (tmp_path / "classifier.fastlstm").stat().st_size > 0
