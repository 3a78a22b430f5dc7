"""scripts/screenshots makes Chromium's PNGs smaller: the pictures must stay the same."""

from __future__ import annotations

import importlib.util
import random
import struct
import sys
import zlib
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "_screenshots.py"
spec = importlib.util.spec_from_file_location("_screenshots", SCRIPT)
assert spec and spec.loader
shots = importlib.util.module_from_spec(spec)
sys.modules["_screenshots"] = shots  # dataclasses look their module up there
spec.loader.exec_module(shots)


def encode(rows: list[bytes], width: int, colour: int, filters: list[int], bpp: int) -> bytes:
    """A PNG with the given row filters, written the simple way (as a browser might)."""
    raw = bytearray()
    prev = bytes(width * bpp)
    for row, kind in zip(rows, filters, strict=True):
        out = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((x - pred) & 0xFF)
        raw += bytes([kind]) + out
        prev = row
    ihdr = struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + shots._chunk(b"IHDR", ihdr)
            + shots._chunk(b"IDAT", zlib.compress(bytes(raw), 1)) + shots._chunk(b"IEND", b""))


def pixels(png: bytes) -> list[tuple[int, int, int]]:
    """Every pixel as RGB, whatever the PNG's colour type."""
    header, idat, palette = b"", bytearray(), b""
    for kind, body in shots._chunks(png):
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"PLTE":
            palette = body
    width, height, _depth, colour, *_ = struct.unpack(">IIBBBBB", header)
    bpp = {2: 3, 6: 4, 3: 1}[colour]
    rows = shots._unfilter(zlib.decompress(bytes(idat)), width, height, bpp)
    result = []
    for row in rows:
        for i in range(0, len(row), bpp):
            if colour == 3:
                j = row[i] * 3
                result.append(tuple(palette[j:j + 3]))
            else:
                result.append(tuple(row[i:i + 3]))
    return result


@pytest.mark.parametrize("colours", [12, 4000])
@pytest.mark.parametrize("alpha", [False, True])
def test_optimised_png_has_the_same_pixels(colours: int, alpha: bool) -> None:
    rng = random.Random(colours)
    width, height, bpp = 40, 30, 4 if alpha else 3
    choices = [bytes(rng.randrange(256) for _ in range(3)) for _ in range(colours)]
    rows = []
    for _ in range(height):
        row = bytearray()
        for _ in range(width):
            row += rng.choice(choices) + (b"\xff" if alpha else b"")
        rows.append(bytes(row))
    original = encode(rows, width, 6 if alpha else 2, [n % 5 for n in range(height)], bpp)
    smaller = shots.optimise_png(original)
    assert len(smaller) <= len(original)
    assert pixels(smaller) == pixels(original)
    if colours <= 256:
        assert any(kind == b"PLTE" for kind, _ in shots._chunks(smaller))


def test_a_real_alpha_channel_is_kept() -> None:
    rows = [bytes([10, 20, 30, 128] * 8) for _ in range(4)]
    original = encode(rows, 8, 6, [0, 1, 2, 4], 4)
    smaller = shots.optimise_png(original)
    header = next(body for kind, body in shots._chunks(smaller) if kind == b"IHDR")
    assert header[9] == 6  # still RGBA: dropping the alpha would change the picture
    assert pixels(smaller) == pixels(original)
