"""Check that a screenshot PNG is a real picture of the viewer, not a blank or tiny image.

    python packaging/check_png.py OUT.png [--min-width 800] [--min-height 500]

Standard library only (zlib): decodes the PNG, then requires the minimum size, at least
``--min-colors`` distinct colours and at least ``--min-ink`` of the pixels differing from
the most common colour. Exit 0 when plausible, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from collections import Counter
from pathlib import Path

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows of raw pixel bytes) of an 8-bit, non-interlaced PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or interlace or colour not in _CHANNELS:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    bpp = _CHANNELS[colour]
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check(path: Path, *, min_width: int, min_height: int, min_colors: int, min_ink: float) -> str:
    """A one-line description of the image; raises ValueError when it is not plausible."""
    data = path.read_bytes()
    width, height, bpp, rows = decode_png(data)
    if width < min_width or height < min_height:
        raise ValueError(f"{path}: {width}×{height} px, expected at least {min_width}×{min_height}")
    colours: Counter[bytes] = Counter()
    step = 3  # every third pixel of every third row is plenty
    for row in rows[::step]:
        for i in range(0, len(row), bpp * step):
            colours[row[i : i + bpp]] += 1
    total = sum(colours.values())
    _, top = colours.most_common(1)[0]
    ink = 1.0 - top / total
    if len(colours) < min_colors:
        raise ValueError(f"{path}: only {len(colours)} distinct colours (blank window?)")
    if ink < min_ink:
        raise ValueError(f"{path}: {ink:.1%} of the pixels differ from the background (blank window?)")
    return (
        f"{path}: {width}×{height} px, {len(data) / 1024:.0f} kB, {len(colours)} colours, "
        f"{ink:.0%} non-background"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that a screenshot PNG is not trivial.")
    parser.add_argument("png", type=Path)
    parser.add_argument("--min-width", type=int, default=800)
    parser.add_argument("--min-height", type=int, default=500)
    parser.add_argument("--min-colors", type=int, default=32)
    parser.add_argument("--min-ink", type=float, default=0.05)
    args = parser.parse_args(argv)
    try:
        print(
            check(
                args.png,
                min_width=args.min_width,
                min_height=args.min_height,
                min_colors=args.min_colors,
                min_ink=args.min_ink,
            )
        )
    except (OSError, ValueError, zlib.error) as err:
        print(f"check_png: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
