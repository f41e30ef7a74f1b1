"""Xiaoshen (小审): a self-hosted credit-policy assistant."""

from xiaoshen import offline as _offline

_offline.enforce()

__version__ = "0.1.0"
