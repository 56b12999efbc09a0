"""Acquiring: the ways a consumer pays in person or by scanning, besides the hosted
checkout. The merchant's QR code (qr), the consumer's payment code (paycode), tap-to-pay
(tap) and the consumer's devices that make codes and taps (devices); methods turns each
into a trade paid through payments' trades.

This is the face: code outside payments imports acquiring from here only."""

from zhifu.payments.acquiring.devices import (
    MAX_ACTIVE_DEVICES,
    DeviceService,
    PaymentCodesExhausted,
    TooManyDevices,
)
from zhifu.payments.acquiring.methods import (
    CryptogramReplayed,
    Order,
    PaymentCodeUsed,
    PaymentMethods,
    Scanned,
    TapSubmission,
)
from zhifu.payments.acquiring.paycode import SLOTS as CODE_SLOTS
from zhifu.payments.acquiring.paycode import STEP_SECONDS as CODE_STEP_SECONDS
from zhifu.payments.acquiring.paycode import generate as generate_payment_code
from zhifu.payments.acquiring.paycode import step as code_step
from zhifu.payments.acquiring.qr import MerchantQr, render_png, render_svg
from zhifu.payments.acquiring.tap import MAX_COUNTER as MAX_TAP_COUNTER
from zhifu.payments.acquiring.tap import TapRequest, new_device_key, sign_tap

__all__ = [
    "CODE_SLOTS",
    "CODE_STEP_SECONDS",
    "MAX_ACTIVE_DEVICES",
    "MAX_TAP_COUNTER",
    "CryptogramReplayed",
    "DeviceService",
    "MerchantQr",
    "Order",
    "PaymentCodeUsed",
    "PaymentCodesExhausted",
    "PaymentMethods",
    "Scanned",
    "TapRequest",
    "TapSubmission",
    "TooManyDevices",
    "code_step",
    "generate_payment_code",
    "new_device_key",
    "render_png",
    "render_svg",
    "sign_tap",
]
