"""QR codes and barcodes on pages, drawn by the server as SVG; QR codes read from images.

QR symbols come from zhifu.payments.acquiring (segno). Barcodes are Code 128 (ISO/IEC 15417),
what checkout scanners read off a phone: an even run of digits is written in code set C
(two digits a symbol, so an 18-digit payment code is 9 symbols), anything else in code
set B (printable ASCII). Uploaded pictures of QR codes are read with zxing-cpp.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from zhifu.errors import InvalidRequest
from zhifu.payments import InvalidQr
from zhifu.payments.acquiring import render_svg

# The bars and spaces of each Code 128 symbol value, as module widths (bar first).
CODE128_PATTERNS = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312",
    "132212", "221213", "221312", "231212", "112232", "122132", "122231", "113222",
    "123122", "123221", "223211", "221132", "221231", "213212", "223112", "312131",
    "311222", "321122", "321221", "312212", "322112", "322211", "212123", "212321",
    "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121",
    "313121", "211331", "231131", "213113", "213311", "213131", "311123", "311321",
    "331121", "312113", "312311", "332111", "314111", "221411", "431111", "111224",
    "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112",
    "421211", "212141", "214121", "412121", "111143", "111341", "131141", "114113",
    "114311", "411113", "411311", "113141", "114131", "311141", "411131", "211412",
    "211214", "211232",
)  # fmt: skip
START_B, START_C = 104, 105
STOP_PATTERN = "2331112"
QUIET_MODULES = 10
MAX_BARCODE_TEXT = 48
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def code128_values(text: str) -> list[int]:
    """The symbol values of `text`: start, data, check symbol (no stop)."""
    if not text or len(text) > MAX_BARCODE_TEXT or not all(" " <= c <= "~" for c in text):
        raise InvalidRequest(f"a barcode holds 1 to {MAX_BARCODE_TEXT} printable ASCII characters")
    if text.isdigit() and len(text) % 2 == 0:
        values = [START_C, *(int(text[i : i + 2]) for i in range(0, len(text), 2))]
    else:
        values = [START_B, *(ord(c) - 32 for c in text)]
    check = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    return [*values, check]


def code128_modules(text: str) -> str:
    """The symbol as module widths, bar first: start, data, check, stop."""
    return "".join(CODE128_PATTERNS[v] for v in code128_values(text)) + STOP_PATTERN


def barcode_svg(text: str, *, height: int = 60) -> str:
    """A Code 128 barcode of `text` as an SVG document to inline, scaled to its box."""
    bars, x = [], QUIET_MODULES
    for index, width in enumerate(int(w) for w in code128_modules(text)):
        if index % 2 == 0:
            bars.append(f"M{x} 0h{width}v{height}h-{width}z")
        x += width
    total = x + QUIET_MODULES
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="barcode" viewBox="0 0 {total} {height}"'
        f' preserveAspectRatio="none" shape-rendering="crispEdges" aria-hidden="true">'
        f'<rect width="{total}" height="{height}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(bars)}"/></svg>'
    )


def qr_svg(text: str, *, scale: int = 6) -> str:
    """A QR symbol of `text` as an SVG document to inline, sized by the page's CSS."""
    return render_svg(text, scale=scale, sized=False)


def read_qr(image: bytes) -> str:
    """The text of the QR code in a picture (PNG, JPEG, ...). Slow: call it in a thread."""
    if not image:
        raise InvalidQr("choose a picture of the QR code", reason="no_image")
    if len(image) > MAX_IMAGE_BYTES:
        raise InvalidQr("the picture is too large (5 MB at most)", reason="image_too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(image))
            if picture.width * picture.height > MAX_IMAGE_PIXELS:
                raise InvalidQr("the picture is too large", reason="image_too_large")
            picture.load()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, OSError, ValueError):
        raise InvalidQr("this file is not a picture we can read", reason="not_an_image") from None
    found = zxingcpp.read_barcodes(picture.convert("L"), formats=QR_ONLY)
    if not found:
        raise InvalidQr("no QR code found in the picture", reason="no_qr_code")
    return str(found[0].text)
