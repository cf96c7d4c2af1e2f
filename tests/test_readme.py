"""The README's quickstart runs exactly as written."""

from __future__ import annotations

import pathlib
import re

import numpy as np

import fastlstm
from conftest import import_peer

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


def test_torch_conversion_example_runs_and_matches_torch():
    """The layout section's snippet runs as written (it had used a `net` it never made), and the
    weights it converts give torch's outputs."""
    torch = import_peer("torch")
    text = README.read_text(encoding="utf-8")
    section = text.split("fastlstm has one layout, Keras's.", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    scope: dict = {}
    exec(compile(code, "README conversion example", "exec"), scope)  # noqa: S102 (our README)
    net = scope["net"]
    x = np.random.default_rng(0).standard_normal((2, 5, net.input_size)).astype(np.float32)
    y, _ = fastlstm.lstm(x, scope["kernel"], scope["recurrent_kernel"], scope["bias"])
    with torch.no_grad():
        expected = net(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_functional_example_runs(capsys):
    text = README.read_text(encoding="utf-8")
    section = text.split("Keras's functional API too:", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(compile(code, "README functional example", "exec"), {})  # noqa: S102 (our own README)
    assert capsys.readouterr().out.strip() == "(3, 3, 12)"
