"""Payments: trades and the ways to pay them (merchant QR, payment code, checkout, tap),
refunds and escrow. The pure formats live in qr, paycode and tap; errors in errors."""
