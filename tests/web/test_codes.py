"""Barcodes and QR codes drawn by the server, read back by a real decoder (zxing-cpp)."""

from __future__ import annotations

import io
import random
import re
import string

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from zhifu.errors import InvalidRequest
from zhifu.payments import InvalidQr
from zhifu.payments.acquiring import render_png
from zhifu.web.kit import codes


def rasterise(svg: str, scale: int = 3) -> Image.Image:
    """Paint the bars of a barcode SVG (its `M{x} 0h{w}` rectangles) onto a picture."""
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))  # type: ignore[union-attr]
    picture = Image.new("L", (width * scale, 80), 255)
    draw = ImageDraw.Draw(picture)
    for x, w in re.findall(r"M(\d+) 0h(\d+)", svg):
        left = int(x) * scale
        draw.rectangle([left, 0, left + int(w) * scale - 1, 79], fill=0)
    return picture


def read_barcode(svg: str) -> str:
    found = zxingcpp.read_barcodes(rasterise(svg), formats=zxingcpp.BarcodeFormat.Code128)
    assert len(found) == 1
    return str(found[0].text)


def test_every_code_128_symbol_is_eleven_modules_and_distinct() -> None:
    assert len(codes.CODE128_PATTERNS) == 106
    assert all(sum(map(int, pattern)) == 11 for pattern in codes.CODE128_PATTERNS)
    assert len(set(codes.CODE128_PATTERNS)) == 106


def test_payment_codes_read_back_from_their_barcode() -> None:
    rng = random.Random(7)
    for _ in range(60):
        code = "".join(rng.choice(string.digits) for _ in range(18))
        assert read_barcode(codes.barcode_svg(code)) == code
    # Set C: start, nine digit pairs, check symbol, stop.
    assert len(codes.code128_values("281234567890123456")) == 11


def test_text_barcodes_use_code_set_b() -> None:
    rng = random.Random(11)
    for _ in range(60):
        text = "".join(rng.choice(string.printable[:95]) for _ in range(rng.randint(1, 20)))
        assert read_barcode(codes.barcode_svg(text)) == text
    assert read_barcode(codes.barcode_svg("12345")) == "12345"  # odd digits: set B


@pytest.mark.parametrize("text", ["", "x" * 49, "中文", "tab\there"])
def test_barcodes_refuse_what_code_128_cannot_hold(text: str) -> None:
    with pytest.raises(InvalidRequest):
        codes.barcode_svg(text)


def test_a_qr_code_is_read_from_a_picture() -> None:
    payload = "00020101021226150009dev.zhifu5204581253031565802CN"
    picture = render_png(payload, scale=5)
    assert codes.read_qr(picture) == payload
    photo = Image.open(io.BytesIO(picture)).convert("RGB").resize((900, 900))
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", quality=80)
    assert codes.read_qr(jpeg.getvalue()) == payload


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (b"", "no_image"),
        (b"GIF89a not really", "not_an_image"),
        (b"x" * (codes.MAX_IMAGE_BYTES + 1), "image_too_large"),
    ],
)
def test_pictures_that_hold_no_code_are_refused(image: bytes, reason: str) -> None:
    with pytest.raises(InvalidQr) as refused:
        codes.read_qr(image)
    assert refused.value.details["reason"] == reason


def test_a_picture_without_a_qr_code_is_refused() -> None:
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    with pytest.raises(InvalidQr) as refused:
        codes.read_qr(blank.getvalue())
    assert refused.value.details["reason"] == "no_qr_code"


def test_the_qr_svg_is_inline_markup() -> None:
    svg = codes.qr_svg("281234567890123456")
    assert svg.startswith("<svg") and "<?xml" not in svg
