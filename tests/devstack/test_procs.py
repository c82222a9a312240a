"""The process helpers every harness starts its servers with."""
import socket
import time

import pytest

from devstack import seaweedfs
from devstack.procs import InfraError, ManagedProcess, free_ports, wait_until
from devstack.seaweedfs import PORT_FLAGS, SeaweedS3


def test_free_ports_are_distinct():
    """Chosen one after the other, a just-closed port can come back: a server given two listeners on one
    port dies at start (SeaweedFS's master and filer gRPC did)."""
    for _ in range(20):
        ports = free_ports(8)
        assert len(set(ports)) == 8, ports


def test_waiting_for_a_server_that_exited_fails_at_once_with_its_log(tmp_path):
    process = ManagedProcess(["sh", "-c", "echo 'bind: address already in use'; exit 3"], tmp_path / "server.log")
    started = time.monotonic()
    with pytest.raises(InfraError) as failed:
        wait_until(lambda: False, 30, "the server", process=process)
    assert time.monotonic() - started < 5
    assert "the server exited before it was ready" in str(failed.value)
    assert "bind: address already in use" in str(failed.value)
    process.stop()


def test_a_port_taken_before_seaweedfs_binds_it_is_chosen_again(tmp_path, monkeypatch):
    """Between choosing its ports and binding them, another process (another xdist worker) may take one."""
    chosen = []

    def first_one_taken(count: int) -> list[int]:
        ports = free_ports(count)
        if not chosen:
            ports[1 + PORT_FLAGS.index("filer.port.grpc")] = taken.getsockname()[1]
        chosen.append(ports)
        return ports

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(seaweedfs, "free_ports", first_one_taken)
        with SeaweedS3(tmp_path) as server:
            assert server.client().list_buckets()["Buckets"][0]["Name"] == server.bucket
    assert len(chosen) == 2
    assert "bind: address already in use" in (tmp_path / "weed.log.1").read_text()
