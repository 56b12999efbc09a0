"""The open platform: apps, zhifu's platform key and the Alipay-compatible gateway."""
