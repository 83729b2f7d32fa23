"""Render resources/icons/ecgviewer.svg into the PNG, ICO and ICNS files the installers use.

    python packaging/make_icons.py

Writes resources/icons/ecgviewer-{16,32,48,64,128,256,512}.png, ecgviewer.png (256 px),
ecgviewer.ico (Windows; 16–256 px) and ecgviewer.icns (macOS; PNG-based entries). Uses
Qt's SVG renderer (offscreen), so it needs no other tool. The outputs are committed; run it
again only when the SVG changes.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)
# ICNS entry types holding PNG data, by pixel size.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def render_png(svg: Path, size: int) -> bytes:
    """The SVG rendered at size × size pixels, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def write_ico(path: Path, pngs: dict[int, bytes]) -> None:
    """A Windows .ico holding PNG-compressed images (Vista and later read them)."""
    sizes = [s for s in (16, 32, 48, 64, 128, 256) if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries, blobs = b"", b""
    for s in sizes:
        data = pngs[s]
        dim = 0 if s >= 256 else s
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    path.write_bytes(header + entries + blobs)


def write_icns(path: Path, pngs: dict[int, bytes]) -> None:
    """A macOS .icns whose entries are PNG images."""
    body = b""
    for s, kind in ICNS_TYPES.items():
        if s in pngs:
            body += kind + struct.pack(">I", 8 + len(pngs[s])) + pngs[s]
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = ICONS / "ecgviewer.svg"
    pngs = {s: render_png(svg, s) for s in SIZES}
    for s, data in pngs.items():
        (ICONS / f"ecgviewer-{s}.png").write_bytes(data)
    (ICONS / "ecgviewer.png").write_bytes(pngs[256])
    write_ico(ICONS / "ecgviewer.ico", pngs)
    write_icns(ICONS / "ecgviewer.icns", pngs)
    print(f"wrote {len(pngs)} PNGs, ecgviewer.ico and ecgviewer.icns into {ICONS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
