"""Arrays that each fit in memory but not together, or an output that fits but not beside the
working copies a layer makes of it, are a MemoryError naming them before anything is filled:
Linux grants every allocation and then ends the process (SIGKILL) while the pages are written.

Each case runs in a child process, so that a regression fails its test instead of ending the
suite; the sizes are fractions of this machine's memory and are refused before any is allocated
(the backward case's cache is sparse files mapped into memory: nothing of them is read)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the out-of-memory killer is Linux's"
)
MEMORY = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") if sys.platform != "win32" else 0


def refused(code: str, expected: str, tmp_path=None) -> None:
    """Runs ``code`` in a child; it must print the MemoryError containing ``expected``."""
    script = textwrap.dedent(code).replace("MEMORY", str(MEMORY)).replace("TMP", str(tmp_path))
    body = "import numpy as np, fastlstm\ntry:\n" + textwrap.indent(script, "    ")
    body += "\nexcept MemoryError as exc:\n    print('MemoryError:', exc)\n"
    run = subprocess.run(
        [sys.executable, "-c", body], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, f"killed or failed ({run.returncode}): {run.stderr[-2000:]}"
    assert "MemoryError: " in run.stdout, run.stdout
    assert expected in run.stdout, run.stdout


def test_a_training_forward_whose_outputs_do_not_fit_together():
    """y and c_t a fifth of the memory free each, the gates four fifths: each fits, not all
    three. (Free memory counts swap: where it exceeds the machine's, the gates would not fit in
    the machine alone.)"""
    from fastlstm import _core

    if _core._available_memory() > 1.15 * MEMORY:
        pytest.skip("free memory with swap beyond the machine's: each array would not fit alone")
    refused(
        """
        from fastlstm import _core
        H = 64
        T = int(0.21 * _core._available_memory() / (4 * H))
        x = np.zeros((1, T, 1), np.float32)
        K, R = np.zeros((1, 4 * H), np.float32), np.zeros((H, 4 * H), np.float32)
        fastlstm.lstm_forward(x, K, R, np.zeros(4 * H, np.float32))
        """,
        "y; the cache's gates (forward's saved pre-activations); the cell states c_t for every "
        "step: cannot allocate them together",
    )


def test_a_backward_whose_working_arrays_do_not_fit(tmp_path):
    """A cache of sparse mapped files whose backward needs dL/dz (4H a step) and h_{t-1} (H):
    more than the memory free (MemAvailable on an idle machine is nearly all of it)."""
    refused(
        """
        from fastlstm import _core
        H = 1024
        T = int(1.2 * max(MEMORY, _core._available_memory()) / (4 * 5 * H))
        small = fastlstm.lstm_forward(
            np.zeros((1, 2, 1), np.float32), np.zeros((1, 4 * H), np.float32),
            np.zeros((H, 4 * H), np.float32), np.zeros(4 * H, np.float32))[2]
        saved = list(small._saved)
        def mapped(name, cols):
            return np.memmap(f"TMP/{name}", np.float32, "w+", shape=(1, T, cols))
        saved[0] = np.zeros((1, T, 1), np.float32)
        saved[6], saved[7], saved[8] = mapped("y", H), mapped("gates", 4 * H), mapped("c", H)
        _core.rnn_backward("lstm", tuple(saved), None, None, None, False, True, None)
        """,
        "dx; backward's working arrays (dL/dz and h_{t-1} for every step): cannot allocate "
        "them together",
        tmp_path,
    )


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (  # the output a quarter of memory, with its softmax's copies more than all of it
            (
                "layers.Dense(int(MEMORY / 4 / 4 / 64), activation='softmax')"
                "(np.ones((64, 1), np.float32))"
            ),
            "layer 'dense': its output for x of shape (64, 1)",
        ),
        (
            "layers.Conv1DTranspose(1, 2, strides=2**70)(np.ones((1, 4, 1), np.float32))",
            "(strides 1180591620717411303424, dilation_rate 1)",
        ),
        (
            "layers.Conv1DTranspose(1, 3, dilation_rate=2**40)(np.ones((1, 4, 1), np.float32))",
            "(strides 1, dilation_rate 1099511627776)",
        ),
        (
            (  # a table of 1 row (a few MB), read 1024 times: twice memory
                "layers.Embedding(1, int(2 * MEMORY / 4 / 1024))(np.zeros((1024, 1), np.int64))"
            ),
            "layer 'embedding': its output for x of shape (1024, 1)",
        ),
        (  # scores a quarter of memory (B = 1, Tq = Tv)
            (
                "q = np.zeros((1, int((MEMORY / 4 / 4) ** 0.5), 1), np.float32)\n"
                "layers.Attention()([q, q])"
            ),
            "layer 'attention': its scores for",
        ),
        (  # float64 x cast for a float32 layer: the cast's copy twice memory (NumPy's own
            # MemoryError had named nothing, and a copy under memory was granted and filled)
            "layers.Dense(1)(np.broadcast_to(np.float64(0), (int(MEMORY / 8), 4)))",
            "x: a copy of shape (",
        ),
        (
            "layers.Conv1D(1, 1)(np.broadcast_to(np.int64(0), (1, int(MEMORY / 2), 1)))",
            "x: a copy of shape (1, ",
        ),
        (  # the output's size before x's indices are read (their checks copy x)
            "layers.Embedding(2, 1)(np.broadcast_to(np.float64(0), (int(MEMORY / 2), 1)))",
            "layer 'embedding': its output for x of shape (",
        ),
    ],
    ids=[
        "dense-softmax",
        "conv-transpose-strides",
        "conv-transpose-dilation",
        "embedding",
        "attention",
        "dense-cast",
        "conv-cast",
        "embedding-before-indices",
    ],
)
def test_a_layer_whose_output_and_working_copies_do_not_fit(layer, expected):
    refused("from fastlstm import layers\n" + layer, expected)
