"""service/protocols.py: an answer's header block goes out with its body, in one write; nothing is
reordered, lost or held past the answer's end; interim answers go out at once."""
from __future__ import annotations

import pytest

from service.protocols import OneWritePerAnswer

HEADER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n"
BODY = b'{"predictions":[0]}'


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.events: list[str] = []

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def write_eof(self) -> None:
        self.events.append("eof")

    def pause_reading(self) -> None:
        self.events.append("pause")

    def resume_reading(self) -> None:
        self.events.append("resume")

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 8080) if name == "sockname" else default

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.fixture
def transports() -> tuple[RecordingTransport, OneWritePerAnswer]:
    real = RecordingTransport()
    return real, OneWritePerAnswer(real)


def test_the_header_block_and_the_body_are_one_write(transports):
    real, held = transports
    held.write(HEADER)
    assert real.writes == []
    held.write(BODY)
    assert real.writes == [HEADER + BODY]


def test_chunked_bodies_follow_in_order(transports):
    real, held = transports
    for data in (HEADER, b"5\r\nhello\r\n", b"0\r\n\r\n"):
        held.write(data)
    assert real.writes == [HEADER + b"5\r\nhello\r\n", b"0\r\n\r\n"]


def test_an_answer_without_a_body_goes_out_when_flushed(transports):
    real, held = transports
    held.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    held.flush()
    held.flush()
    assert real.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]


@pytest.mark.parametrize("interim", [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 100 \r\n\r\n",
                                     b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"])
def test_interim_answers_are_never_held(transports, interim):
    real, held = transports
    held.write(interim)
    assert real.writes == [interim]


def test_close_and_write_eof_write_what_is_held_first(transports):
    real, held = transports
    held.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    held.close()
    assert len(real.writes) == 1 and real.events == ["close"]
    real2 = RecordingTransport()
    held2 = OneWritePerAnswer(real2)
    held2.write(HEADER)
    held2.write_eof()
    assert real2.writes == [HEADER] and real2.events == ["eof"]


def test_nothing_is_written_to_a_transport_already_closing(transports):
    real, held = transports
    held.write(HEADER)
    real.closing = True  # the connection was lost meanwhile
    held.flush()
    held.close()
    assert real.writes == []


def test_pipelined_answers_keep_their_order(transports):
    real, held = transports
    for _ in range(3):
        held.write(HEADER)
        held.write(BODY)
    assert real.writes == [HEADER + BODY] * 3


def test_everything_else_is_the_transports(transports):
    real, held = transports
    held.pause_reading()
    held.resume_reading()
    assert real.events == ["pause", "resume"]
    assert held.get_extra_info("sockname") == ("127.0.0.1", 8080)
    assert held.get_write_buffer_size() == 0
