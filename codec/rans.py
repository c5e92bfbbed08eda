"""A bounds-checked reader of CompressAI's rANS strings, in pure Python. Standard library only.

CompressAI's C++ decoder (``compressai.ans``) trusts its input: it reads 32-bit words past the
end of a short string, and a garbage string can send its escape ("bypass") loop on for as long
as the bytes it reads say so. :mod:`codec.entropy` calls it only in a form that cannot do either
(no escapes, a padded string) and hands every string that does hold an escape to
:func:`decode`, which follows the same arithmetic word for word but checks every read and
bounds every loop, so any string gives either the symbols CompressAI's decoder gives for an
honest string, or a :class:`FormatError`.

The coder (rans64 by F. Giesen, as extended by CompressAI): a 64-bit state ``x`` kept in
``[2^31, 2^63)`` and refilled with one little-endian 32-bit word whenever it drops below
``2^31``; 16-bit CDFs; the last slot of every CDF is an escape, followed by the value in 4-bit
nibbles: a count (15 means "15 and more follow"), then the nibbles of ``raw``, least
significant first, where ``raw = -2 v - 1`` below the table and ``2 (v - max)`` above it.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Sequence

from codec.errors import FormatError

PRECISION = 16
RANS_L = 1 << 31
NIBBLE = 4
# The encoder writes ``raw`` (a non-negative int32) in at most 8 nibbles; more cannot be honest.
MAX_BYPASS_NIBBLES = 8


class _Words:
    """The string as 32-bit words, with a read that refuses to run past the end."""

    def __init__(self, string: bytes) -> None:
        if len(string) % 4 or len(string) < 8:
            raise FormatError(f"rANS string of {len(string)} bytes: must be a multiple of 4, at least 8")
        self.words = struct.unpack(f"<{len(string) // 4}I", string)
        self.pos = 0

    def read(self) -> int:
        if self.pos == len(self.words):
            raise FormatError(f"rANS string ends early: all {len(self.words)} words read, symbols remain")
        self.pos += 1
        return self.words[self.pos - 1]


def decode(string: bytes, indexes: Sequence[int], cdfs: Sequence[Sequence[int]], offsets: Sequence[int]) -> list[int]:
    """Decode one symbol per entry of ``indexes`` (a table number); ``cdfs[i]`` is table ``i``
    trimmed to its length (``0 ... 65536``), ``offsets[i]`` its first value."""
    words = _Words(string)
    x = words.read() | words.read() << 32
    out = [0] * len(indexes)
    for i, idx in enumerate(indexes):
        cdf = cdfs[idx]
        cum = x & 0xFFFF
        s = bisect_right(cdf, cum) - 1
        start = cdf[s]
        x = (cdf[s + 1] - start) * (x >> PRECISION) + cum - start
        if x < RANS_L:
            x = x << 32 | words.read()
        if s == len(cdf) - 2:
            s, x = _bypass(x, words, s)
        out[i] = s + offsets[idx]
    return out


def _bypass(x: int, words: _Words, max_value: int) -> tuple[int, int]:
    """Read an escaped value; returns it (relative to the table's offset) and the new state."""

    def nibble() -> int:
        nonlocal x
        val = x & ((1 << NIBBLE) - 1)
        x >>= NIBBLE
        if x < RANS_L:
            x = x << 32 | words.read()
        return val

    count = nibble()  # a count of 15 would continue in further nibbles: never honest, see above
    if count > MAX_BYPASS_NIBBLES:
        raise FormatError(f"escaped value of {count}+ nibbles, at most {MAX_BYPASS_NIBBLES} are possible")
    raw = 0
    for j in range(count):
        raw |= nibble() << (NIBBLE * j)
    if raw >= 1 << 31:
        raise FormatError("escaped value does not fit 32 bits")
    return (-(raw >> 1) - 1 if raw & 1 else (raw >> 1) + max_value), x
