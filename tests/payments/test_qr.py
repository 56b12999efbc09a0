from __future__ import annotations

import io
import string
from typing import Any

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from zhifu.errors import InvalidRequest
from zhifu.money import CURRENCIES, format_decimal
from zhifu.payments.acquiring.qr import (
    CURRENCY_NUMBERS,
    LocalName,
    MerchantQr,
    crc16,
    parse_data_objects,
    render_png,
    render_svg,
)
from zhifu.payments.errors import InvalidQr

# The example payload of the EMVCo MPM specification (v1.0, appendix): two account
# templates, Chinese text in template 64 (lengths in characters), tip indicator 55.
EMVCO_EXAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678"
    "520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
    "540523.7253031565502016233030412340603***0708A60086670902ME91320016A011223344"
    "998877070812345678"
    "6304A13A"
)


def dynamic_qr(**changes: Any) -> MerchantQr:
    fields: dict[str, Any] = {
        "merchant_name": "Lucky Noodles",
        "merchant_city": "Hangzhou",
        "merchant_category_code": "5812",
        "trade_ref": "T2026000001",
        "amount": 1234,
        **changes,
    }
    return MerchantQr(**fields)


def static_qr(**changes: Any) -> MerchantQr:
    fields: dict[str, Any] = {
        "merchant_name": "Lucky Noodles",
        "merchant_city": "Hangzhou",
        "merchant_category_code": "5812",
        "merchant_ref": "m_8f3a",
        "store_ref": "store-7",
        **changes,
    }
    return MerchantQr(**fields)


def with_crc(body: str) -> str:
    """A payload with a correct CRC, to test the checks behind the CRC."""
    body += "6304"
    return body + f"{crc16(body.encode()):04X}"


# --- CRC and framing -------------------------------------------------------------------


def test_crc16_ccitt_false_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def test_emvco_example_crc_and_framing() -> None:
    assert f"{crc16(EMVCO_EXAMPLE[:-4].encode()):04X}" == "A13A"
    objects = parse_data_objects(EMVCO_EXAMPLE)
    assert objects["64"] == "0002ZH0104最佳运输0202北京"
    assert objects["54"] == "23.72"
    assert objects["53"] == "156"


def test_emvco_example_is_not_a_zhifu_code() -> None:
    with pytest.raises(InvalidQr) as caught:
        MerchantQr.parse(EMVCO_EXAMPLE)
    assert caught.value.details["reason"] == "no_zhifu_account"


# --- encoding --------------------------------------------------------------------------


def test_dynamic_code_layout() -> None:
    payload = dynamic_qr().encode()
    assert payload.startswith("000201" + "010212" + "26280009dev.zhifu0311T2026000001")
    objects = parse_data_objects(payload)
    assert objects["52"] == "5812"
    assert objects["53"] == "156"
    assert objects["54"] == "12.34"
    assert objects["58"] == "CN"
    assert objects["59"] == "Lucky Noodles"
    assert objects["60"] == "Hangzhou"
    assert list(objects)[-1] == "63"
    assert payload[-8:-4] == "6304"
    assert payload[-4:] == f"{crc16(payload[:-4].encode()):04X}"


def test_static_code_has_no_amount() -> None:
    qr = static_qr()
    objects = parse_data_objects(qr.encode())
    assert objects["01"] == "11"
    assert "54" not in objects
    assert parse_data_objects(objects["26"]) == {"00": "dev.zhifu", "01": "m_8f3a", "02": "store-7"}


def test_amount_uses_the_currency_minor_units() -> None:
    assert parse_data_objects(dynamic_qr(amount=1500, currency="JPY").encode())["54"] == "1500"
    assert parse_data_objects(dynamic_qr(amount=5, currency="USD").encode())["53"] == "840"


def test_additional_data_and_local_name() -> None:
    local = LocalName(language="ZH", merchant_name="好运面馆", merchant_city="杭州")
    qr = dynamic_qr(bill_number="INV-1", terminal_label="Till 2", local=local)
    objects = parse_data_objects(qr.encode())
    assert objects["62"] == "0105INV-10706Till 2"
    assert objects["64"] == "0002ZH0104好运面馆0202杭州"
    assert MerchantQr.parse(qr.encode()) == qr


def test_amount_fits_thirteen_characters() -> None:
    largest = dynamic_qr(amount=10**12 - 1)
    assert parse_data_objects(largest.encode())["54"] == "9999999999.99"
    with pytest.raises(InvalidQr):
        dynamic_qr(amount=10**12)


def test_every_zhifu_currency_has_a_numeric_code() -> None:
    assert set(CURRENCY_NUMBERS) == set(CURRENCIES)
    assert all(len(number) == 3 and number.isdigit() for number in CURRENCY_NUMBERS.values())


@pytest.mark.parametrize(
    "changes",
    [
        {"trade_ref": None},  # static code with an amount
        {"amount": None},  # dynamic code without one
        {"amount": 0},
        {"amount": -5},
        {"amount": 10**13},  # more than 13 characters
        {"merchant_name": "x" * 26},
        {"merchant_name": ""},
        {"merchant_city": "Ürümqi"},  # not ASCII: belongs in the local name
        {"merchant_category_code": "581"},
        {"country": "cn"},
        {"currency": "XYZ"},
        {"trade_ref": "has space"},
        {"trade_ref": "x" * 33},
        {"merchant_ref": "m" * 32, "store_ref": "s" * 32, "trade_ref": "t" * 32},
        {"bill_number": "b" * 26},
    ],
)
def test_invalid_codes_are_refused_at_construction(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        dynamic_qr(**changes)


def test_static_code_needs_a_merchant_reference() -> None:
    with pytest.raises(InvalidQr):
        static_qr(merchant_ref=None)


def test_local_name_refuses_control_characters() -> None:
    with pytest.raises(InvalidQr):
        LocalName(language="ZH", merchant_name="好\n运")


# --- parsing ---------------------------------------------------------------------------


def test_parse_accepts_other_networks_and_unknown_ids() -> None:
    payload = dynamic_qr().encode()[:-8]
    body = payload.replace("5204", "02161234567890123456" + "61063100005204")
    body += "5502019106ABCDEF"
    assert MerchantQr.parse(with_crc(body)) == dynamic_qr()


def test_parse_accepts_a_lowercase_crc() -> None:
    payload = dynamic_qr().encode()
    assert MerchantQr.parse(payload[:-4] + payload[-4:].lower()) == dynamic_qr()


def test_tampered_amount_is_refused() -> None:
    payload = dynamic_qr(amount=1234).encode()
    tampered = payload.replace("540512.34", "540502.34")
    assert tampered != payload
    with pytest.raises(InvalidQr) as caught:
        MerchantQr.parse(tampered)
    assert caught.value.code == "invalid_qr"
    assert caught.value.status == 422


def test_every_truncation_is_refused() -> None:
    payload = dynamic_qr(bill_number="INV-1").encode()
    for end in range(len(payload)):
        with pytest.raises(InvalidQr):
            MerchantQr.parse(payload[:end])


@pytest.mark.parametrize(
    "body",
    [
        "000201010212",  # no account, no required fields
        "000202010211",  # format indicator 02
        "010212000201",  # format indicator not first
        "0002010102",  # length runs past the end
        "00020101001",  # zero length
        "0002010A0212",  # non-digit ID
        "000201010213",  # unknown point of initiation
        "00020100020101",  # duplicate ID
    ],
)
def test_bad_framing_is_refused_even_with_a_good_crc(body: str) -> None:
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(body))


def test_crc_not_last_is_refused() -> None:
    payload = dynamic_qr().encode()
    objects = payload[:-8]
    crc = payload[-8:]
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(objects[:6] + crc + objects[6:]))


def test_point_of_initiation_must_match_contents() -> None:
    body = dynamic_qr().encode()[:-8].replace("010212", "010211", 1)
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(body))


def test_wrong_amount_format_is_refused() -> None:
    body = dynamic_qr().encode()[:-8].replace("540512.34", "54061.2345")
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(body))


def test_unknown_currency_is_refused() -> None:
    body = dynamic_qr().encode()[:-8].replace("5303156", "5303999")
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(body))


def test_missing_merchant_name_is_refused() -> None:
    body = dynamic_qr().encode()[:-8].replace("5913Lucky Noodles", "")
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(body))


@pytest.mark.parametrize("payload", [None, 42, b"000201", "", "x" * 513, "\ud8006304ABCD"])
def test_non_payloads_are_refused(payload: Any) -> None:
    with pytest.raises(InvalidQr):
        MerchantQr.parse(payload)


# --- properties ------------------------------------------------------------------------

_ans = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=25)
_reference = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=20)
_local_text = st.text(
    st.characters(categories=["L", "N", "P"], include_characters=" "),
    min_size=1,
    max_size=15,
)


@st.composite
def merchant_qrs(draw: st.DrawFn) -> MerchantQr:
    currency = draw(st.sampled_from(sorted(CURRENCY_NUMBERS)))
    dynamic = draw(st.booleans())
    largest = 10**12 - 1 if CURRENCIES[currency] else 10**13 - 1  # 13 characters
    local = draw(
        st.none()
        | st.builds(
            LocalName,
            language=st.sampled_from(["ZH", "zh", "EN"]),
            merchant_name=_local_text,
            merchant_city=st.none() | _local_text,
        )
    )
    return MerchantQr(
        merchant_name=draw(_ans),
        merchant_city=draw(_ans.map(lambda text: text[:15])),
        merchant_category_code=draw(st.from_regex(r"[0-9]{4}", fullmatch=True)),
        merchant_ref=draw(_reference) if not dynamic else draw(st.none() | _reference),
        store_ref=draw(st.none() | _reference),
        trade_ref=draw(_reference) if dynamic else None,
        amount=draw(st.integers(1, largest)) if dynamic else None,
        currency=currency,
        country=draw(st.from_regex(r"[A-Z]{2}", fullmatch=True)),
        bill_number=draw(st.none() | _ans),
        terminal_label=draw(st.none() | _ans),
        local=local,
    )


@given(merchant_qrs())
def test_round_trip(qr: MerchantQr) -> None:
    payload = qr.encode()
    assert MerchantQr.parse(payload) == qr
    assert len(payload) <= 512
    if qr.amount is not None:
        assert parse_data_objects(payload)["54"] == format_decimal(qr.amount, qr.currency)


@given(merchant_qrs(), st.data())
def test_any_single_character_change_is_refused(qr: MerchantQr, data: st.DataObject) -> None:
    payload = qr.encode()
    ascii_positions = [i for i, char in enumerate(payload) if char.isascii()]
    position = data.draw(st.sampled_from(ascii_positions))
    replacement = data.draw(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(
            lambda char: char != payload[position]
        )
    )
    tampered = payload[:position] + replacement + payload[position + 1 :]
    if tampered[-4:].upper() == payload[-4:]:
        return  # the CRC's case changed: same code
    with pytest.raises(InvalidQr):
        MerchantQr.parse(tampered)


@given(st.text(max_size=300))
def test_garbage_raises_only_invalid_qr(text: str) -> None:
    with pytest.raises(InvalidQr):
        MerchantQr.parse(text)


@given(st.text(st.sampled_from("0123456789ABCDEF"), max_size=120))
def test_garbage_with_a_valid_crc_raises_only_invalid_qr(body: str) -> None:
    with pytest.raises(InvalidQr):
        MerchantQr.parse(with_crc(body))


# --- rendering -------------------------------------------------------------------------


def _decode_png(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_png_decodes_back_to_the_payload() -> None:
    payload = dynamic_qr(bill_number="INV-1").encode()
    png = render_png(payload, scale=4)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode_png(png) == [payload]


def test_png_with_chinese_text_decodes_back() -> None:
    local = LocalName(language="ZH", merchant_name="好运面馆", merchant_city="杭州")
    payload = static_qr(local=local).encode()
    assert _decode_png(render_png(payload, scale=3)) == [payload]
    assert MerchantQr.parse(payload).local == local


def test_svg_is_an_svg_document() -> None:
    svg = render_svg(static_qr().encode())
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg


@pytest.mark.parametrize("scale", [0, 41, True, 2.5])
def test_render_refuses_a_bad_scale(scale: Any) -> None:
    with pytest.raises(InvalidRequest):
        render_png(static_qr().encode(), scale=scale)


def test_render_refuses_an_empty_payload() -> None:
    with pytest.raises(InvalidQr):
        render_svg("")
