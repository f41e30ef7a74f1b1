"""The suite itself fails if any code reaches beyond loopback (so hidden downloads cannot pass)."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import NetworkBlocked


def test_a_socket_to_a_public_address_is_refused() -> None:
    with pytest.raises(NetworkBlocked), socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect(("93.184.216.34", 443))


def test_loopback_is_allowed() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=2):
        pass


def test_offline_switches_are_set_before_models_load() -> None:
    import os

    import xiaoshen  # noqa: F401

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"].lower() == "false"
    assert os.path.isdir(os.environ["TIKTOKEN_CACHE_DIR"])
