"""TensorBoard's event files, written without TensorFlow or protobuf: the scalars of the
TensorBoard callback.

A file is a sequence of records, each ``length`` (uint64, little-endian), the masked CRC-32C of
those 8 bytes (uint32), ``length`` bytes of data, then the masked CRC-32C of the data. Each
record's data is one serialised ``Event`` message (tensorflow/core/util/event.proto), of which
these fields are written:

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; }

The first record of a file holds ``file_version = "brain.Event:2"``; TensorBoard reads a
``simple_value`` as a scalar. Each record is written whole and flushed, so a reader (TensorBoard
watching the directory while training runs) never meets half of one.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time

# CRC-32C (Castagnoli): the reflected polynomial, one table entry per byte value.
_POLY = 0x82F63B78


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The record format's CRC: rotated right by 15 bits plus a constant, so that a CRC stored
    inside checksummed data does not checksum to a fixed value."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# -- protobuf's wire format, for the few fields above -----------------------------------------


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # an int64's two's complement, as protobuf encodes a negative
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def event(wall_time: float, step: int = 0, *, file_version: str | None = None, scalars=()) -> bytes:
    """An Event message: a file's version record, or ``scalars`` ((tag, value) pairs) at
    ``step``."""
    out = _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(step)
    if file_version is not None:
        out += _length_delimited(3, file_version.encode())
    values = b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode()) + _key(2, 5) + struct.pack("<f", v))
        for tag, v in scalars
    )
    if values:
        out += _length_delimited(5, values)
    return out


_COUNTER = itertools.count()


class EventWriter:
    """Appends events to a new file in ``directory`` (made if missing), named as TensorFlow
    names them so that TensorBoard finds it: events.out.tfevents.<time>.<host>.<pid>.<n>.v2."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
            f"{next(_COUNTER)}.v2"
        )
        self.path = os.path.join(directory, name)
        self._file = open(self.path, "xb")  # noqa: SIM115 (closed by close())
        self._write(event(time.time(), file_version="brain.Event:2"))

    def _write(self, data: bytes) -> None:
        self._file.write(record(data))
        self._file.flush()

    def scalars(self, step: int, values) -> None:
        """One event holding ``values`` ((tag, float) pairs) at ``step``."""
        values = list(values)
        if values:
            self._write(event(time.time(), step, scalars=values))

    def close(self) -> None:
        self._file.close()
