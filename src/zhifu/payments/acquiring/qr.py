"""EMVCo merchant-presented QR codes (MPM): the payload a merchant shows and a wallet scans.

A payload is a run of data objects, each an ID (2 digits), a length (2 digits, 01-99,
counting characters, not bytes) and a value; a template's value is a run of data objects
in turn. zhifu writes, in this order:

    ID  value
    00  "01"            payload format indicator; always first
    01  "11" | "12"     point of initiation: 11 static (the payer types the amount, the
                        code serves many payments), 12 dynamic (one trade, amount fixed)
    26  template        merchant account information (zhifu writes 26; 26-51 are read):
          00  "dev.zhifu"        globally unique identifier (reverse domain)
          01  merchant reference  required on a static code
          02  store reference     optional
          03  trade reference     present exactly on a dynamic code
    52  "5812"          merchant category code (ISO 18245), 4 digits
    53  "156"           transaction currency, ISO 4217 numeric (156 CNY, 840 USD, ...)
    54  "12.34"         transaction amount, dynamic codes only, at most 13 characters
    58  "CN"            country code, ISO 3166-1 alpha-2
    59  name            merchant name, at most 25 characters
    60  city            merchant city, at most 15 characters
    62  template        additional data, optional: 01 bill number, 07 terminal label
    64  template        the merchant in another language, optional: 00 language (ISO 639,
                        2 letters), 01 name (at most 25), 02 city (at most 15)
    63  "A13B"          CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no
                        final xor) over the UTF-8 bytes of everything before it including
                        its own "6304"; 4 uppercase hex digits; always last

Values are printable ASCII except in template 64, which takes any printable Unicode.
References use [A-Za-z0-9._-], at most 32 characters each, and the account template must
fit in 99 characters.

Reading is strict about what zhifu relies on and lenient about the rest, so codes that
also carry other networks' accounts still scan: the CRC, the ID/length framing, "00"
first and "63" last, the required fields and their formats, and the consistency of the
point of initiation with the contents are checked; other IDs (card networks, tips,
postal code, other account templates) are ignored. Every refusal is an InvalidQr
(code `invalid_qr`); nothing else escapes `MerchantQr.parse`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import segno

from zhifu.errors import InvalidRequest
from zhifu.money import check_minor, format_decimal, parse_decimal
from zhifu.payments.errors import InvalidQr

ZHIFU_GUI = "dev.zhifu"
ACCOUNT_TEMPLATE_ID = "26"
ACCOUNT_TEMPLATE_IDS = tuple(f"{tag:02d}" for tag in range(26, 52))
STATIC = "11"
DYNAMIC = "12"
MAX_PAYLOAD = 512
MAX_AMOUNT_CHARS = 13

# ISO 4217 numeric codes of the currencies zhifu accepts (zhifu.money.CURRENCIES).
CURRENCY_NUMBERS: dict[str, str] = {
    "CNY": "156",
    "HKD": "344",
    "MOP": "446",
    "TWD": "901",
    "USD": "840",
    "EUR": "978",
    "GBP": "826",
    "SGD": "702",
    "AUD": "036",
    "CAD": "124",
    "CHF": "756",
    "THB": "764",
    "MYR": "458",
    "JPY": "392",
    "KRW": "410",
}
_CURRENCY_BY_NUMBER = {number: code for code, number in CURRENCY_NUMBERS.items()}

_TWO_DIGITS = re.compile(r"[0-9]{2}")
_MCC = re.compile(r"[0-9]{4}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[A-Za-z]{2}")
_REFERENCE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_ANS = re.compile(r"[\x20-\x7e]+")
_CRC_HEX = re.compile(r"[0-9A-Fa-f]{4}")


# --- CRC -------------------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: crc16(b"123456789") == 0x29B1."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def _crc_text(text: str) -> str:
    return f"{crc16(text.encode('utf-8')):04X}"


# --- ID / length / value framing -------------------------------------------------------


def data_object(tag: str, value: str) -> str:
    """One data object: ID, two-digit length in characters, value."""
    if not 1 <= len(value) <= 99:
        raise InvalidQr(f"data object {tag} must hold 1 to 99 characters", field=tag)
    return f"{tag}{len(value):02d}{value}"


def parse_data_objects(text: str) -> dict[str, str]:
    """Split a run of data objects into {ID: value}, in order; refuse bad framing."""
    objects: dict[str, str] = {}
    position = 0
    while position < len(text):
        tag, value, position = _next_object(text, position)
        if tag in objects:
            raise InvalidQr(f"data object {tag} appears twice", field=tag)
        objects[tag] = value
    return objects


def _next_object(text: str, position: int) -> tuple[str, str, int]:
    tag, length = text[position : position + 2], text[position + 2 : position + 4]
    if not (_TWO_DIGITS.fullmatch(tag) and _TWO_DIGITS.fullmatch(length)):
        raise InvalidQr(f"malformed data object at character {position}")
    start = position + 4
    end = start + int(length)
    if end == start or end > len(text):
        raise InvalidQr(f"data object {tag} has a wrong length", field=tag)
    return tag, text[start:end], end


# --- the payload -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalName:
    """The merchant's name (and city) in another language and script, e.g. Chinese."""

    language: str
    merchant_name: str
    merchant_city: str | None = None

    def __post_init__(self) -> None:
        _check_pattern("local.language", self.language, _LANGUAGE)
        _check_unicode("local.merchant_name", self.merchant_name, 25)
        if self.merchant_city is not None:
            _check_unicode("local.merchant_city", self.merchant_city, 15)

    def template(self) -> str:
        objects = [("00", self.language), ("01", self.merchant_name)]
        if self.merchant_city is not None:
            objects.append(("02", self.merchant_city))
        return _join(objects)


@dataclass(frozen=True, slots=True, kw_only=True)
class MerchantQr:
    """A zhifu merchant-presented QR code. Dynamic exactly when it names a trade."""

    merchant_name: str
    merchant_city: str
    merchant_category_code: str
    merchant_ref: str | None = None
    store_ref: str | None = None
    trade_ref: str | None = None
    amount: int | None = None
    currency: str = "CNY"
    country: str = "CN"
    bill_number: str | None = None
    terminal_label: str | None = None
    local: LocalName | None = None

    def __post_init__(self) -> None:
        _check_ans("merchant_name", self.merchant_name, 25)
        _check_ans("merchant_city", self.merchant_city, 15)
        _check_pattern("merchant_category_code", self.merchant_category_code, _MCC)
        _check_pattern("country", self.country, _COUNTRY)
        if self.currency not in CURRENCY_NUMBERS:
            raise InvalidQr(f"currency {self.currency!r} has no QR code", field="currency")
        self._check_references()
        self._check_kind()
        self._check_additional_data()

    @property
    def dynamic(self) -> bool:
        return self.trade_ref is not None

    @property
    def point_of_initiation(self) -> str:
        return DYNAMIC if self.dynamic else STATIC

    def encode(self) -> str:
        """The payload string, CRC included."""
        body = _join(self._data_objects()) + "6304"
        return body + _crc_text(body)

    @classmethod
    def parse(cls, payload: str) -> MerchantQr:
        """Read a payload written by `encode` (or by another EMVCo writer for zhifu)."""
        root = _read_payload(payload)
        try:
            return _from_data_objects(root)
        except InvalidQr:
            raise
        except InvalidRequest as error:
            raise InvalidQr(f"invalid QR code: {error.message}") from error

    def _data_objects(self) -> list[tuple[str, str]]:
        objects = [("00", "01"), ("01", self.point_of_initiation)]
        objects.append((ACCOUNT_TEMPLATE_ID, self._account_template()))
        objects += [("52", self.merchant_category_code), ("53", CURRENCY_NUMBERS[self.currency])]
        if self.amount is not None:
            objects.append(("54", format_decimal(self.amount, self.currency)))
        objects += [("58", self.country), ("59", self.merchant_name), ("60", self.merchant_city)]
        if additional := self._additional_data():
            objects.append(("62", additional))
        if self.local is not None:
            objects.append(("64", self.local.template()))
        return objects

    def _account_template(self) -> str:
        references = (("01", self.merchant_ref), ("02", self.store_ref), ("03", self.trade_ref))
        return _join([("00", ZHIFU_GUI), *_present(references)])

    def _additional_data(self) -> str:
        return _join(_present((("01", self.bill_number), ("07", self.terminal_label))))

    def _check_references(self) -> None:
        for name in ("merchant_ref", "store_ref", "trade_ref"):
            reference = getattr(self, name)
            if reference is not None:
                _check_pattern(name, reference, _REFERENCE)
        if len(self._account_template()) > 99:
            raise InvalidQr("the references do not fit in one account template")

    def _check_kind(self) -> None:
        if not self.dynamic and self.merchant_ref is None:
            raise InvalidQr("a static code needs a merchant reference", field="merchant_ref")
        if not self.dynamic and self.amount is not None:
            raise InvalidQr("only a dynamic code (one trade) carries an amount", field="amount")
        if self.dynamic and self.amount is None:
            raise InvalidQr("a dynamic code needs the trade's amount", field="amount")
        if self.amount is not None:
            check_minor(self.amount)
            if len(format_decimal(self.amount, self.currency)) > MAX_AMOUNT_CHARS:
                raise InvalidQr("amount too large for a QR code", field="amount")

    def _check_additional_data(self) -> None:
        if self.bill_number is not None:
            _check_ans("bill_number", self.bill_number, 25)
        if self.terminal_label is not None:
            _check_ans("terminal_label", self.terminal_label, 25)


def _join(objects: list[tuple[str, str]]) -> str:
    return "".join(data_object(tag, value) for tag, value in objects)


def _present(objects: tuple[tuple[str, str | None], ...]) -> list[tuple[str, str]]:
    return [(tag, value) for tag, value in objects if value is not None]


def _check_pattern(field: str, value: object, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidQr(f"{field} {str(value)[:40]!r} is not valid in a QR code", field=field)


def _check_ans(field: str, value: object, longest: int) -> None:
    _check_pattern(field, value, _ANS)
    _check_length(field, str(value), longest)


def _check_unicode(field: str, value: object, longest: int) -> None:
    if not isinstance(value, str) or not value or not value.isprintable():
        raise InvalidQr(f"{field} must be printable text", field=field)
    _check_length(field, value, longest)


def _check_length(field: str, value: str, longest: int) -> None:
    if len(value) > longest:
        raise InvalidQr(f"{field} is longer than {longest} characters", field=field)


# --- reading ---------------------------------------------------------------------------


def _read_payload(payload: object) -> dict[str, str]:
    if not isinstance(payload, str) or not 0 < len(payload) <= MAX_PAYLOAD:
        raise InvalidQr(f"a QR payload is text of 1 to {MAX_PAYLOAD} characters")
    _check_crc(payload)
    root = parse_data_objects(payload)
    tags = list(root)
    if tags[0] != "00" or root["00"] != "01":
        raise InvalidQr("the payload does not start with format indicator 01", field="00")
    if tags[-1] != "63" or len(root["63"]) != 4:
        raise InvalidQr("the payload does not end with its CRC", field="63")
    return root


def _check_crc(payload: str) -> None:
    body, written = payload[:-4], payload[-4:]
    if not body.endswith("6304") or not _CRC_HEX.fullmatch(written):
        raise InvalidQr("the payload has no CRC", field="63")
    try:
        expected = _crc_text(body)
    except UnicodeEncodeError:
        raise InvalidQr("the payload is not valid text") from None
    if written.upper() != expected:
        raise InvalidQr("CRC mismatch: the code is damaged or was altered", field="63")


def _from_data_objects(root: dict[str, str]) -> MerchantQr:
    currency = _currency(_required(root, "53"))
    account = _zhifu_account(root)
    additional = parse_data_objects(root.get("62", ""))
    amount = root.get("54")
    qr = MerchantQr(
        merchant_name=_required(root, "59"),
        merchant_city=_required(root, "60"),
        merchant_category_code=_required(root, "52"),
        merchant_ref=account.get("01"),
        store_ref=account.get("02"),
        trade_ref=account.get("03"),
        amount=None if amount is None else parse_decimal(amount, currency),
        currency=currency,
        country=_required(root, "58"),
        bill_number=additional.get("01"),
        terminal_label=additional.get("07"),
        local=_local_name(root.get("64")),
    )
    if _required(root, "01") != qr.point_of_initiation:
        raise InvalidQr("the point of initiation does not match the code", field="01")
    return qr


def _required(root: dict[str, str], tag: str) -> str:
    if tag not in root:
        raise InvalidQr(f"required data object {tag} is missing", field=tag)
    return root[tag]


def _currency(number: str) -> str:
    if number not in _CURRENCY_BY_NUMBER:
        raise InvalidQr(f"currency {number[:8]!r} is not accepted", field="53")
    return _CURRENCY_BY_NUMBER[number]


def _zhifu_account(root: dict[str, str]) -> dict[str, str]:
    ours = [account for account in _accounts(root) if _is_zhifu(account)]
    if not ours:
        raise InvalidQr("not a zhifu merchant code", reason="no_zhifu_account")
    if len(ours) > 1:
        raise InvalidQr("more than one zhifu account template")
    return ours[0]


def _accounts(root: dict[str, str]) -> list[dict[str, str]]:
    accounts = []
    for tag in ACCOUNT_TEMPLATE_IDS:
        if tag in root:
            try:
                accounts.append(parse_data_objects(root[tag]))
            except InvalidQr:
                continue  # another network's template: not ours to judge
    return accounts


def _is_zhifu(account: dict[str, str]) -> bool:
    return account.get("00", "").lower() == ZHIFU_GUI


def _local_name(template: str | None) -> LocalName | None:
    if template is None:
        return None
    objects = parse_data_objects(template)
    return LocalName(
        language=_required(objects, "00"),
        merchant_name=_required(objects, "01"),
        merchant_city=objects.get("02"),
    )


# --- rendering -------------------------------------------------------------------------


def render_png(payload: str, scale: int = 8) -> bytes:
    """A PNG of the QR symbol, `scale` pixels per module, with the 4-module quiet zone."""
    buffer = io.BytesIO()
    _symbol(payload).save(buffer, kind="png", scale=_check_scale(scale), border=4)
    return buffer.getvalue()


def render_svg(payload: str, scale: int = 4, *, sized: bool = True) -> str:
    """An SVG document of the QR symbol (no XML declaration, so it can be inlined).
    Unsized, it has only a viewBox, so a page's CSS can scale it without cropping."""
    buffer = io.BytesIO()
    _symbol(payload).save(
        buffer,
        kind="svg",
        scale=_check_scale(scale),
        border=4,
        xmldecl=False,
        omitsize=not sized,
    )
    return buffer.getvalue().decode("utf-8")


def _symbol(payload: str) -> segno.QRCode:
    """Error correction at least M (segno raises it when that costs no extra size)."""
    if not isinstance(payload, str) or not 0 < len(payload) <= MAX_PAYLOAD:
        raise InvalidQr(f"a QR payload is text of 1 to {MAX_PAYLOAD} characters")
    return segno.make_qr(payload, error="m", encoding="utf-8")


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 40:
        raise InvalidRequest("scale must be an integer from 1 to 40", field="scale")
    return scale
