"""The fast tier's own guard (tests/unit/conftest.py): no subprocess, no internet socket."""
from __future__ import annotations

import socket
import subprocess

import pytest


@pytest.mark.parametrize("attempt", [
    pytest.param(lambda: subprocess.run(["true"], check=False), id="subprocess"),
    pytest.param(lambda: socket.create_connection(("127.0.0.1", 9), timeout=1), id="connect"),
    pytest.param(lambda: socket.socket().bind(("127.0.0.1", 0)), id="bind"),
])
def test_processes_and_network_are_refused(attempt):
    with pytest.raises(AssertionError, match="tests/unit runs in-process only"):
        attempt()


def test_unix_socket_pairs_still_work():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
