"""The share poster: a PNG with the product's name and price, the promoter's code and a QR code of the share
link. Chinese text needs the Noto CJK font (Debian's fonts-noto-cjk); without it the poster is refused with
a clear error rather than drawn in boxes. Posters are small (POSTER_SIZE, a few tens of KB) and kept in a
bounded per-process cache keyed by everything drawn on them."""

import functools
import io
import shutil
import subprocess
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

POSTER_SIZE = (750, 1100)
#: Where Debian puts the font when fc-match is not there to ask.
FONT_FALLBACKS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                  "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")


class FontMissing(RuntimeError):
    pass


@functools.cache
def font_path() -> str:
    """The Noto Sans CJK SC file, found by fontconfig (fc-match), else at Debian's path; FontMissing if neither."""
    if shutil.which("fc-match"):
        out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:lang=zh-cn"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        if out and "CJK" in out and Path(out).is_file():
            return out
    for path in FONT_FALLBACKS:
        if Path(path).is_file():
            return path
    raise FontMissing("The share poster needs the Noto CJK font: install the Debian package fonts-noto-cjk.")


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(), size, index=2)  # index 2 of the collection: Simplified Chinese


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, lines: int) -> list[str]:
    out, line = [], ""
    for ch in text:
        if draw.textlength(line + ch, font=font) > width:
            out.append(line)
            line = ch
            if len(out) == lines:
                break
        else:
            line += ch
    if len(out) < lines and line:
        out.append(line)
    if len(out) == lines and "".join(out) != text:
        out[-1] = out[-1][:-1] + "…"
    return out


@functools.lru_cache(maxsize=256)
def render(*, product: str, price: str, code: str, url: str, caption: str, code_label: str) -> bytes:
    """The PNG bytes. Every argument is text already translated and formatted (the caller's language)."""
    w, h = POSTER_SIZE
    img = Image.new("RGB", (w, h), "#fff7ed")
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, w, 150], fill="#e4572e")
    draw.text((40, 45), "权益 Quanyi", font=_font(52), fill="white")
    y = 200
    for line in _wrap(draw, product, _font(46), w - 80, 3):
        draw.text((40, y), line, font=_font(46), fill="#222222")
        y += 62
    draw.text((40, y + 20), price, font=_font(64), fill="#e4572e")
    qr = segno.make(url, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=10, border=2)
    qr_img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    side = min(420, qr_img.width)
    qr_img = qr_img.resize((side, side), Image.NEAREST)
    top = h - side - 190
    img.paste(qr_img, ((w - side) // 2, top))
    small = _font(30)
    for i, text in enumerate((caption, f"{code_label} {code}")):
        tw = draw.textlength(text, font=small)
        draw.text(((w - tw) / 2, top + side + 30 + i * 50), text, font=small, fill="#444444")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
