"""Saving and loading models: ONE file that cannot run code.

The file is a zip archive, uncompressed, with exactly two members:

- ``fastlstm.json``: UTF-8 JSON with the format name and version, the model config (layer class
  names and their plain-data configs), the compile config (optimizer, loss and metrics by class
  name), the training state (optimizer step count, random generator states) and a manifest of
  the arrays: name, dtype (little-endian float32/float64), shape, byte offset and byte count.
- ``arrays.bin``: the raw arrays back to back (each at a 64-byte aligned offset): every layer's
  weights, the optimizer's slots and the states of stateful layers.

``save_weights`` writes the same file without the optimizer's state. For a model whose config
cannot be written (a layer class of the caller's own, an initialiser given as a function, a
``Constant`` holding more than 4,096 values), its JSON holds no model config, compile config or
training state but ``weights_of``: the model's class, its layers' class names and its input
shape; ``arrays.bin`` holds the layers' weights alone. ``load_weights`` reads such a file into a
model with layers of those classes; ``load_model`` refuses it, saying so.

Loading never unpickles anything: it parses JSON and copies bytes into arrays. Every member,
size, dtype, shape, offset and config entry is checked before use, members must be stored
(uncompressed, so no size can expand), and only fastlstm's own layer, loss, metric and
optimizer classes can be made; anything else raises ValueError. Saving builds the whole file
in memory, writes it to a temporary file in the same directory, flushes and fsyncs it, and
renames it over the target (``os.replace``), so a crash mid-save leaves the previous file whole
(a process killed outright can leave its temporary ``.fastlstm-*.tmp`` file beside it).
The new file keeps an existing file's permission bits (and its owner, where the process may set
it); being a new file, it is not another name of the old one (a hard link keeps the old model).
Only regular files are written or read: a device, a FIFO or a socket at the path is refused, so
``save("/dev/null")`` cannot replace the device and ``load_model`` cannot be fed an endless
stream. Pickling a model goes through the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from typing import Any

import numpy as np

from . import _core, initializers, losses, optimizers
from . import metrics as metrics_lib
from ._model_outputs import restored as restored_outputs
from ._model_outputs import serialized as serialized_outputs
from .functional import _flag

FORMAT, VERSION = "fastlstm.model", 1
HEADER, BLOB = "fastlstm.json", "arrays.bin"
# A header beyond this is not one fastlstm writes (about 0.5 KiB a layer); parsing JSON takes
# many times its size in memory (a 63 MB header of empty lists took 1.8 GB).
MAX_HEADER = 4 << 20
_DTYPES = {"<f4": np.dtype("<f4"), "<f8": np.dtype("<f8")}
_ALIGN = 64
_KEYS = {"format", "version", "fastlstm_version", "model", "compile", "training", "arrays"}
_WEIGHTS_KEYS = {"format", "version", "fastlstm_version", "weights_of", "arrays"}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so that the same model gives the same bytes
_HDF5 = b"\x89HDF\r\n\x1a\n"  # the signature of HDF5 files (Keras 2's .h5, Keras 3's weights)
_FROM_KERAS = (
    "fastlstm reads its own files only; its layers keep Keras's weight layout, so "
    "model.set_weights(keras_model.get_weights()) moves them"
)
_PARSE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    EOFError,
    struct.error,
    UnicodeDecodeError,
    NotImplementedError,
    RuntimeError,
    RecursionError,
    zlib.error,
    OSError,
    MemoryError,
)


# -- writing ---------------------------------------------------------------------------------


def _rng_state(rng) -> Any:
    return None if rng is None else rng.bit_generator.state


def _check_saveable(layer) -> None:
    """Only classes the loader may make are saved: a file that cannot be loaded is an error now,
    not later."""
    from .layers import _CLASSES
    from .layers.core import TimeDistributed

    if _CLASSES.get(type(layer).__name__) is not type(layer):
        raise ValueError(
            f"layer {layer.name!r}: only fastlstm's own layer classes can be saved "
            f"({sorted(_CLASSES)}), got {type(layer).__name__}"
        )
    if isinstance(layer, TimeDistributed):
        _check_saveable(layer.layer)


def model_to_bytes(model, include_optimizer: bool = True) -> bytes:
    """The model as the bytes of a fastlstm model file: its weights and optimizer state as a
    training step in another thread leaves them, never halfway through one."""
    include_optimizer = _flag(include_optimizer, "include_optimizer")
    with model._weights_lock.reading:
        return _model_bytes(model, include_optimizer)


def check_saveable(model) -> None:
    """ValueError where a save of ``model`` would be refused for what its layers are (a class
    the loader may not make, a Constant initialiser holding an array): ModelCheckpoint asks
    before training rather than after an epoch."""
    for layer in model._layers:
        _check_saveable(layer)
        initializers.refuse_arrays(layer)
    _check_sizes(model, " (load_model refuses such a model, so it is not saved)")


def _model_bytes(model, include_optimizer: bool) -> bytes:
    check_saveable(model)
    arrays: list[tuple[str, np.ndarray]] = []
    for i, layer in enumerate(model._layers):
        arrays += [(f"weights/{i}/{k}", w) for k, w in enumerate(layer.weights)]
        arrays += [(f"states/{i}/{k}", s) for k, s in enumerate(layer.get_state_arrays())]
    compile_config = None
    if include_optimizer and model.compiled:
        if not model.optimizer.built_for(model.trainable_weights):
            raise ValueError(
                "include_optimizer: the optimizer's state is for other weights than the model's "
                "trainable ones (a layer added or removed, or `trainable` switched since it "
                "trained): compile() the model again, or save with include_optimizer=False"
            )
        specs = getattr(model, "_output_specs", None)  # a model of several outputs
        compile_config = {
            "optimizer": optimizers.serialize(model.optimizer),
            **(
                serialized_outputs(specs)
                if specs
                else {
                    "loss": losses.serialize(model.loss),
                    "metrics": [
                        metrics_lib.serialize(m)
                        for m, w in zip(model._metric_specs, model._weighted)
                        if not w
                    ],
                    "weighted_metrics": [
                        metrics_lib.serialize(m)
                        for m, w in zip(model._metric_specs, model._weighted)
                        if w
                    ],
                }
            ),
            "iterations": model.optimizer.iterations,
        }
        slots = model.optimizer.get_slot_arrays()
        arrays += [(f"optimizer/{k}", s) for k, s in enumerate(slots)]
    header = {
        "model": {"class_name": type(model).__name__, "config": model.get_config()},
        "compile": compile_config,
        "training": {
            "shuffle_rng": _rng_state(model._shuffle_rng),
            "layer_rng": [layer.get_rng_state() for layer in model._layers],
        },
    }
    return _file_bytes(header, arrays)


def _weights_bytes(model) -> bytes:
    """The bytes of a file holding ``model``'s weights alone (see the module docstring), for a
    model whose config cannot be written."""
    shape = model.input_shape
    header = {
        "weights_of": {
            "class_name": type(model).__name__,
            "layers": [type(layer).__name__ for layer in model._layers],
            "input_shape": list(shape) if isinstance(shape, tuple) else None,
        },
    }
    arrays = [
        (f"weights/{i}/{k}", w)
        for i, layer in enumerate(model._layers)
        for k, w in enumerate(layer.weights)
    ]
    return _file_bytes(header, arrays)


def _file_bytes(header: dict, arrays: list[tuple[str, np.ndarray]]) -> bytes:
    """A model file: ``header`` between the format's fields and the arrays' manifest, and the
    arrays."""
    manifest, chunks, offset = [], [], 0
    for name, a in arrays:
        a = np.asarray(a, dtype=a.dtype.newbyteorder("<"), order="C")  # a 0-d array stays 0-d
        pad = -offset % _ALIGN
        chunks.append(b"\0" * pad)
        offset += pad
        manifest.append(
            {
                "name": name,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "offset": offset,
                "nbytes": a.nbytes,
            }
        )
        chunks.append(a.tobytes())
        offset += a.nbytes
    header = {
        "format": FORMAT,
        "version": VERSION,
        "fastlstm_version": _core.__version__,
        **header,
        "arrays": manifest,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, payload in (
            (HEADER, json.dumps(header, allow_nan=False).encode()),
            (BLOB, b"".join(chunks)),
        ):
            info = zipfile.ZipInfo(name, _ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, payload)
    return buffer.getvalue()


def _saved_weights(model) -> bytes:
    """save_weights's bytes: the model without its optimizer state, which load_model reads too,
    or where its config cannot be written (_model_bytes refuses it), its weights alone."""
    with model._weights_lock.reading:
        try:
            return _model_bytes(model, False)
        except ValueError:
            return _weights_bytes(model)


def _write_bytes(f, data: bytes) -> None:
    f.write(data)


def _umask() -> int:
    """The process's umask, read without setting it where the system says it (os.umask sets it
    for every thread, and a file another thread made meanwhile would get mode 0666)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o077)  # the narrowest mask in the meantime
    os.umask(umask)
    return umask


def _named(exc: OSError, what: str) -> OSError:
    """``exc`` again (its class and errno), its message naming ``filepath`` and ``what``."""
    message = f"filepath: {what} ({exc.strerror or exc})"
    return type(exc)(message) if exc.errno is None else type(exc)(exc.errno, message)


def path_str(path, name: str = "filepath") -> str:
    """``path`` as a str: a str or path-like, bytes decoded as the file system does; else a
    TypeError naming the argument ``name`` (str() of None or a list would be a file's name)."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"{name}: expected a str or os.PathLike, got {type(path).__name__}"
        ) from None
    _no_nul(text, name)
    return text


def _no_nul(path, name: str) -> None:
    """A ValueError naming ``name`` for a path holding a NUL character, which no file's name
    can hold (the system calls' own error names nothing: "embedded null byte")."""
    if ("\0" if isinstance(path, str) else b"\0") in path:
        raise ValueError(f"{name}: expected a path without NUL characters, got {path!r}")


def _target(filepath) -> str:
    """The file to write for ``filepath``: a str or path-like (bytes are decoded as the file
    system does), through any symbolic link (the link stays; its target gets the model)."""
    path = path_str(filepath)
    if not path:
        raise ValueError("filepath: expected a file path, got ''")
    if path.endswith(("/", os.sep)):  # a directory's path: realpath would drop the separator
        raise IsADirectoryError(f"filepath: expected a file path, got the directory {path!r}")
    path = os.path.realpath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"filepath: expected a file path, got the directory {path!r}")
    if os.path.islink(path):  # realpath stops at a loop of links
        raise ValueError(f"filepath: {path!r} is a loop of symbolic links")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a name too long, say
        raise _named(exc, f"cannot look at {path!r}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(
            f"filepath: {path!r} exists and is not a regular file (a device, a FIFO or a "
            "socket); refusing to replace it"
        )
    if not os.path.isdir(os.path.dirname(path)):
        raise FileNotFoundError(
            f"filepath: the directory of {path!r} does not exist (make it first)"
        )
    return path


def save_model(
    model, filepath, overwrite: bool = True, include_optimizer: bool = True, *, weights=False
) -> None:
    """Write ``model`` to ``filepath`` atomically (see the module docstring); with
    ``overwrite=False``, FileExistsError where a file is there already. ``weights=True``:
    save_weights's file (no optimizer state; the weights alone where the config cannot be
    written)."""
    path = _target(filepath)
    if not _flag(overwrite, "overwrite") and os.path.lexists(path):
        raise FileExistsError(f"filepath: {path!r} exists, and overwrite=False")
    # Any error here leaves the old file alone.
    data = _saved_weights(model) if weights else model_to_bytes(model, include_optimizer)
    directory = os.path.dirname(path)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    # The rename below would replace a file its mode forbids writing, as open() would not.
    if old is not None and not os.access(path, os.W_OK):
        raise PermissionError(f"filepath: {path!r} is read-only; refusing to replace it")
    # A short name of its own: one built from the target's could pass the system's name limit.
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fastlstm-", suffix=".tmp", dir=directory)
    except OSError as exc:  # its message names the temporary file
        raise _named(exc, f"cannot write a file in the directory of {path!r}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600: the old file's mode, else the usual
                os.fchmod(f.fileno(), stat.S_IMODE(old.st_mode) if old else 0o666 & ~_umask())
            if old is not None and hasattr(os, "fchown"):
                with contextlib.suppress(OSError):  # only where the process may
                    os.fchown(f.fileno(), old.st_uid, old.st_gid)
            _write_bytes(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a file size limit: named, not the temp file
            raise _named(exc, f"could not write {path!r}; the file there is as it was") from None
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            with contextlib.suppress(OSError):
                os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# -- reading ---------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """What a parse error says, or its type where it says nothing (zipfile's bare EOFError)."""
    return str(exc) or type(exc).__name__


def _fail(reason: str):
    raise ValueError(reason)


def _int(value, what: str, limit: int = 1 << 62) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        _fail(f"{what}: expected an integer in [0, {limit}), got {value!r}")
    return value


def _stored_member(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """A stored member's bytes where they lie in ``data``, CRC-checked: zipfile's read would
    copy them (a model's whole weights, once more at its peak memory)."""
    at = info.header_offset
    local = data[at : at + 30]
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        _fail(f"member {info.filename!r}: no local header at offset {at}")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    if data[at + 30 : at + 30 + name_length] != info.filename.encode():
        _fail(f"member {info.filename!r}: its local header names another")
    start = at + 30 + name_length + extra_length
    if start + info.file_size > len(data):
        _fail(f"member {info.filename!r} runs past the end of the file")
    member = memoryview(data)[start : start + info.file_size]
    if zlib.crc32(member) != info.CRC:
        _fail(f"member {info.filename!r}: bad CRC-32")
    return member


def _read_members(data: bytes) -> tuple[dict, bytes]:
    # The archive alone, as save writes it: zipfile also reads one with other bytes before it
    # or after it (another format's file, and a model inside: a polyglot).
    if data[:4] != b"PK\x03\x04" or data[-22:-18] != b"PK\x05\x06":
        _fail("expected a zip archive from its first byte to its last")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        # zipfile moves every member by the bytes found before the archive it describes
        if min((i.header_offset for i in infos), default=0) != 0:
            _fail("expected a zip archive from its first byte to its last")
        names = sorted(i.filename for i in infos)
        if names != sorted([HEADER, BLOB]):
            shown = [n if len(n) <= 40 else n[:40] + "..." for n in names[:10]]
            keras = " (a Keras model file: " + _FROM_KERAS + ")" if "config.json" in names else ""
            _fail(f"expected the members {[HEADER, BLOB]}, found {shown}{keras}")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                _fail(f"member {info.filename!r} is compressed or encrypted")
            if info.file_size != info.compress_size or info.file_size > len(data):
                _fail(f"member {info.filename!r} declares {info.file_size} bytes")
        if zf.getinfo(HEADER).file_size > MAX_HEADER:
            _fail(f"{HEADER} is larger than {MAX_HEADER} bytes")
        raw = bytes(_stored_member(data, zf.getinfo(HEADER)))
        blob = _stored_member(data, zf.getinfo(BLOB))

    def no_constants(name):
        _fail(f"{HEADER}: {name} is not allowed")

    def finite(text):  # 1e999 is no NaN/Infinity token, but parses to inf
        value = float(text)
        if not math.isfinite(value):
            _fail(f"{HEADER}: the number {text[:40]} is out of float range")
        return value

    header = json.loads(raw.decode("utf-8"), parse_constant=no_constants, parse_float=finite)
    if not isinstance(header, dict):
        _fail(f"{HEADER}: expected a JSON object")
    version = header.get("version")  # 1.0 and true equal 1 in Python
    if header.get("format") != FORMAT or type(version) is not int or version != VERSION:
        _fail(
            f"expected format {FORMAT!r} version {VERSION}, got {header.get('format')!r} "
            f"version {header.get('version')!r}"
        )
    unknown = set(header) - (_WEIGHTS_KEYS if "weights_of" in header else _KEYS)
    if unknown:
        _fail(f"{HEADER}: unexpected keys {sorted(unknown)[:10]}")
    return header, blob


def _read_arrays(manifest, blob: bytes) -> dict[str, np.ndarray]:
    if not isinstance(manifest, list):
        _fail("arrays: expected a list")
    arrays: dict[str, np.ndarray] = {}
    end = 0  # arrays may not overlap, so the copies never exceed the file's size
    for entry in manifest:
        if not isinstance(entry, dict) or set(entry) != {
            "name",
            "dtype",
            "shape",
            "offset",
            "nbytes",
        }:
            _fail(f"arrays: bad manifest entry {str(entry)[:200]}")
        name = entry["name"]
        if not isinstance(name, str) or name in arrays:
            _fail(f"arrays: bad or repeated name {name!r}")
        dtype = _DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
        if dtype is None:
            _fail(f"array {name!r}: expected dtype in {sorted(_DTYPES)}, got {entry['dtype']!r}")
        shape = entry["shape"]
        if not isinstance(shape, list) or len(shape) > 8:
            _fail(f"array {name!r}: bad shape {shape!r}")
        count = 1
        for s in shape:
            count *= _int(s, f"array {name!r} shape", 1 << 40)
        offset = _int(entry["offset"], f"array {name!r} offset")
        nbytes = _int(entry["nbytes"], f"array {name!r} nbytes")
        if nbytes != count * dtype.itemsize or offset < end or offset + nbytes > len(blob):
            _fail(
                f"array {name!r}: shape {shape} of {dtype} needs {count * dtype.itemsize} bytes "
                f"at offset {offset}; the manifest says {nbytes}, the previous array ends at "
                f"{end} and {BLOB} holds {len(blob)}"
            )
        end = offset + nbytes
        a = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape)
        # Native byte order; a read-only view of the file's bytes where that is theirs (every
        # layer and optimizer copies what it is given, so the weights are not copied twice).
        arrays[name] = a.astype(dtype.newbyteorder("="), copy=False)
    return arrays


def _check_rng_state(state, what: str):
    if state is None:
        return None
    if isinstance(state, list) and len(state) == 2:  # a wrapper of two layers (Bidirectional)
        return [_check_rng_state(s, what) for s in state]
    ok = (
        isinstance(state, dict)
        and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and state["bit_generator"] == "PCG64"
        and isinstance(state["state"], dict)
        and set(state["state"]) == {"state", "inc"}
    )
    if not ok:
        _fail(f"{what}: expected a PCG64 generator state, got {str(state)[:200]}")
    _int(state["state"]["state"], what, 1 << 128)
    _int(state["state"]["inc"], what, 1 << 128)
    _int(state["has_uint32"], what, 2)
    _int(state["uinteger"], what, 1 << 32)
    return state


def _take(arrays: dict, prefix: str) -> list[np.ndarray]:
    out, k = [], 0
    while f"{prefix}/{k}" in arrays:
        out.append(arrays.pop(f"{prefix}/{k}"))
        k += 1
    return out


def _check_declared_shape(layer) -> None:
    """The input shape a first layer declares (Keras 2's input_shape=) must fit its weights:
    the loader built it from the arrays, so a disagreeing declaration is a damaged config."""
    declared = None if layer is None else layer.batch_input_shape
    fits = layer._input_shape_from_weights() if declared is not None and layer.weights else None
    if fits and fits[-1] is not None and declared[-1] not in (None, fits[-1]):
        _fail(
            f"layer {layer.name!r}: its config declares inputs of shape {declared}, its weights "
            f"take {fits[-1]} features"
        )


def _restore(header: dict, arrays: dict, compile: bool = True, custom_objects=None):
    from .models import Model, Sequential, check_build_shape

    spec = header.get("model")
    classes = {"Sequential": Sequential, "Model": Model}
    if not isinstance(spec, dict) or spec.get("class_name") not in ("Sequential", "Model"):
        _fail(f"model: expected class Sequential or Model, got {str(spec)[:200]}")
    config = spec.get("config")
    if not isinstance(config, dict):
        _fail("model: expected a config object")
    # Build from the saved arrays, never from the config's sizes (nor from an input shape a
    # first layer declares): a layer whose weights are missing or mis-shaped is an error before
    # anything of the config's size is allocated. A functional Model's layers are called on its
    # inputs (built) only once they hold the file's weights.
    model = classes[spec["class_name"]]._from_config(config, build=False)
    functional = isinstance(model, Model)
    shape = config.get("build_input_shape")
    for i, layer in enumerate(model._layers):
        try:  # a file save writes holds no larger Constant array in its config
            initializers.refuse_arrays(layer)
        except ValueError as exc:
            _fail(str(exc))
        weights = _take(arrays, f"weights/{i}")
        expected = len(layer.weight_names) if functional or shape is not None else 0
        if len(weights) != expected:
            _fail(f"layer {layer.name!r}: expected {expected} weight arrays, got {len(weights)}")
        for name, w in zip(layer.weight_names, weights):
            if w.dtype != layer.dtype:  # a cast could overflow (1e300 to float32 is inf)
                _fail(f"layer {layer.name!r}: {name} is {w.dtype}, the layer's dtype {layer.dtype}")
        try:
            if weights:
                layer.set_weights(weights)
            layer.set_state_arrays(_take(arrays, f"states/{i}"))
        except (ValueError, TypeError) as exc:
            _fail(f"layer {layer.name!r}: {exc}")
    if functional:
        model._wire()
        _check_sizes(model)
    elif shape is not None:
        first = model._layers[0] if model._layers else None
        _check_declared_shape(first)
        model.build(check_build_shape(shape, first.batch_input_shape if first else None))
        _check_sizes(model)
    training = header.get("training")
    if not isinstance(training, dict):
        _fail("training: expected an object")
    model._shuffle_rng = None
    state = _check_rng_state(training.get("shuffle_rng"), "shuffle_rng")
    if state is not None:
        model._shuffle_rng = np.random.default_rng()
        model._shuffle_rng.bit_generator.state = state
    layer_rng = training.get("layer_rng")
    if not isinstance(layer_rng, list) or len(layer_rng) != len(model._layers):
        _fail("layer_rng: expected one entry per layer")
    for layer, state in zip(model._layers, layer_rng):
        layer.set_rng_state(_check_rng_state(state, f"layer {layer.name!r} rng"))
    compile_config = header.get("compile")
    if compile_config is not None and not compile:
        _take(arrays, "optimizer")  # the optimizer's state goes unused
    elif compile_config is not None:
        if (
            not isinstance(compile_config, dict)
            or not isinstance(compile_config.get("metrics"), list)
            or not isinstance(compile_config.get("weighted_metrics", []), list)
        ):
            _fail("compile: expected an object with optimizer, loss, metrics and iterations")
        unknown = set(compile_config) - _COMPILE_KEYS
        if unknown:
            _fail(f"compile: unexpected keys {sorted(map(str, unknown))[:10]}")
        optimizer = optimizers.deserialize(compile_config.get("optimizer"))
        if "loss_weights" in compile_config:  # a model of several outputs
            if not functional or not model._joint:
                _fail("compile: per-output losses for a model whose outputs are not a list")
            model.compile(optimizer, **restored_outputs(compile_config, custom_objects))
        else:
            model.compile(
                optimizer=optimizer,
                loss=losses.deserialize(compile_config.get("loss")),
                metrics=[
                    metrics_lib.deserialize(m, custom_objects) for m in compile_config["metrics"]
                ],
                # files written before weighted_metrics existed have none
                weighted_metrics=[
                    metrics_lib.deserialize(m, custom_objects)
                    for m in compile_config.get("weighted_metrics", [])
                ],
            )
        slots = _take(arrays, "optimizer")
        model.optimizer.set_slot_arrays(
            model.trainable_weights, slots, _int(compile_config.get("iterations"), "iterations")
        )
    if arrays:
        _fail(f"arrays: unexpected entries {sorted(arrays)[:10]}")
    return model


# The most values a layer's output may hold per sample in a model from a file (its known
# sizes): a file is data, and one whose layers multiply their inputs' sizes (Concatenate of a
# tensor with itself, again and again; UpSampling1D) must not make a predict ask for terabytes.
MAX_SAMPLE_VALUES = 1 << 32


def _check_sizes(model, why: str = "") -> None:
    """ValueError where a layer's output in built ``model`` (every node's, in a functional
    model) holds more than MAX_SAMPLE_VALUES a sample; ``why`` ends the message."""
    nodes = getattr(model, "_nodes", None)
    if nodes is not None:
        shapes = [t.shape for node in nodes for t in node.outputs]
    else:  # a layer's output shape, or a list of them (an LSTM's return_state)
        shapes = [
            s for out in model._output_shapes for s in (out if isinstance(out, list) else [out])
        ]
    for shape in shapes:
        values = math.prod(s for s in shape[1:] if s is not None)
        if values > MAX_SAMPLE_VALUES:
            _fail(
                f"model: a layer's output of shape {shape} would hold {values:,} values a "
                f"sample (more than {MAX_SAMPLE_VALUES:,}){why}"
            )


# What a file's compile entry may hold (loss_weights: a model of several outputs; files
# written before weighted_metrics existed have none)
_COMPILE_KEYS = {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "iterations"}


def model_from_bytes(data: bytes, custom_objects=None):
    """A model from the bytes of a fastlstm model file; ValueError if they are not one.
    ``custom_objects``: as :func:`load_model`'s."""
    return _load(data, "the data", custom_objects=custom_objects, caller="model_from_bytes")


def _load(data: bytes, source: str, compile: bool = True, custom_objects=None, caller="load_model"):
    """The model in ``data`` (read from ``source``, as messages name it); ``caller``, the public
    function, begins the message of a file that is not a model file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    if custom_objects is not None and (
        not isinstance(custom_objects, dict) or not all(isinstance(k, str) for k in custom_objects)
    ):
        raise TypeError(
            f"custom_objects: expected None or a dict of name: metric, got {custom_objects!r}"
            + (
                " (Keras's order: load_model(filepath, custom_objects, compile); pass compile= "
                "by name)"
                if isinstance(custom_objects, bool)
                else ""
            )
        )
    header, arrays = _parsed(data, source, caller)
    if "weights_of" in header:
        raise ValueError(
            f"{caller}: {source} holds a model's weights only (save_weights of a model whose "
            "config cannot be saved: a layer class of your own, an initialiser given as a "
            "function or a large Constant): make the model and call its load_weights"
        )
    try:
        return _restore(header, arrays, compile, custom_objects)
    except metrics_lib.CustomMetricError:
        raise  # a valid file: the message says how to load it
    except _PARSE_ERRORS as exc:
        raise ValueError(
            f"{caller}: {source} is not a valid fastlstm model file: {_reason(exc)}"
        ) from None


def _parsed(data: bytes, source: str, caller: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of the model file in ``data``; ValueError naming ``caller`` and
    ``source`` where it is not one."""
    try:
        header, blob = _read_members(bytes(data))
        return header, _read_arrays(header.get("arrays"), blob)
    except _PARSE_ERRORS as exc:
        raise ValueError(
            f"{caller}: {source} is not a valid fastlstm model file: {_reason(exc)}"
        ) from None


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """The model saved at ``filepath`` by ``model.save``, compiled with its optimizer state
    when it was saved compiled, so that training resumes exactly where it stopped;
    ``compile=False`` leaves it uncompiled (for inference, or to compile it anew). A metric of
    the caller's own code is saved by name only: ``custom_objects={name: metric}`` gives it back
    (Keras's argument; the file never holds code). Keras's arguments in Keras's order;
    ``safe_mode`` changes nothing: with the file holding no code, loading is always safe."""
    _flag(safe_mode, "safe_mode")
    return _load_path(filepath, _flag(compile, "compile"), custom_objects, "load_model")


def _load_path(filepath, compile: bool, custom_objects, caller: str):
    """load_model's work for ``caller``, which messages name."""
    path = _fspath(filepath)
    return _load(_read_file(path, caller), repr(path), compile, custom_objects, caller)


def _fspath(filepath):
    """The path of a file to read."""
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(
            f"filepath: expected a str or os.PathLike (the file's path; an open file is not "
            f"read), got {type(filepath).__name__}"
        ) from None
    _no_nul(path, "filepath")
    return path


def _read_file(path, caller: str) -> bytes:
    """The bytes of the regular file at ``path``. Opened without blocking (a FIFO would block
    the open itself), then refused unless regular: /dev/zero would be read until memory ran out."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):  # fdopen's own error would name the descriptor, not the path
            raise IsADirectoryError(f"filepath: expected a file, got the directory {path!r}")
        if not stat.S_ISREG(mode):
            raise ValueError(f"filepath: {os.fsdecode(path)!r} is not a regular file")
        # A model file starts as a zip archive does: another file is not read whole first.
        head = os.pread(fd, 8, 0) if hasattr(os, "pread") else b"PK\x03\x04"
        if not head.startswith(b"PK\x03\x04"):
            keras = f" (an HDF5 file, as Keras's .h5: {_FROM_KERAS})" if head == _HDF5 else ""
            raise ValueError(
                f"{caller}: {path!r} is not a valid fastlstm model file: expected a zip "
                f"archive from its first byte to its last{keras}"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read()


def load_weights(model, filepath) -> None:
    """Set ``model``'s weights from a file saved by ``save``/``save_weights`` of a model with
    the same layers; nothing changes unless they all fit."""
    path = _fspath(filepath)
    source = repr(path)
    header, arrays = _parsed(_read_file(path, "load_weights"), source, "load_weights")
    try:
        if "weights_of" in header:
            names, shape, by_layer = _weights_only(header, arrays)
        else:
            other = _restore(header, arrays, False, None)  # no optimizer, no metrics
            names = [type(layer).__name__ for layer in other._layers]
            shape, by_layer = other.input_shape, [layer.get_weights() for layer in other._layers]
    except _PARSE_ERRORS as exc:
        raise ValueError(
            f"load_weights: {source} is not a valid fastlstm model file: {_reason(exc)}"
        ) from None
    if names != [type(layer).__name__ for layer in model._layers]:
        raise ValueError(
            f"filepath: the saved model's layers {names} do not match this model's "
            f"{[type(layer).__name__ for layer in model._layers]}"
        )
    weights = [w for layer_weights in by_layer for w in layer_weights]
    if not model.built and shape is not None:
        # Tried on a copy first: a build cannot be undone, and weights that do not fit would
        # leave this model built with fresh random weights. A model whose config cannot be
        # written (an initialiser given as a callable) is built untried.
        try:
            probe = type(model).from_config(model.get_config())
        except ValueError:
            probe = None
        if probe is not None:
            probe.build(shape)
            probe.set_weights(weights)
        model.build(shape)
    model.set_weights(weights)


def _weights_only(header: dict, arrays: dict) -> tuple[list[str], tuple | None, list[list]]:
    """A weights-only file's layer class names, input shape and weights by layer."""
    from .models import check_build_shape

    spec = header.get("weights_of")
    if not isinstance(spec, dict) or set(spec) != {"class_name", "layers", "input_shape"}:
        _fail(f"weights_of: expected class_name, layers and input_shape, got {str(spec)[:200]}")
    names = spec["layers"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        _fail(f"weights_of: layers: expected a list of class names, got {str(names)[:200]}")
    shape = spec["input_shape"]
    if shape is not None:
        shape = check_build_shape(shape)
    by_layer = [_take(arrays, f"weights/{i}") for i in range(len(names))]
    if arrays:
        _fail(f"arrays: unexpected entries {sorted(arrays)[:10]}")
    return names, shape, by_layer
