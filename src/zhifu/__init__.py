"""zhifu: a self-hostable digital payment platform modelled on Alipay."""

__version__ = "0.1.0"
