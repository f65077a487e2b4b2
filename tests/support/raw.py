"""A raw DEALER socket and a region of our own, to send what no client would."""

import msgpack
import zmq

from graphferry.shm import Segment


class RawPeer:
    def __init__(self, endpoint: str):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def send_frames(self, *frames: bytes) -> None:
        self.socket.send_multipart(frames)

    def request(self, message) -> dict:
        self.send_frames(msgpack.packb(message, use_bin_type=True))
        return self.reply()

    def reply(self, timeout_ms: int = 10000) -> dict:
        assert self.socket.poll(timeout_ms), "no reply"
        return msgpack.unpackb(self.socket.recv(), raw=False)

    def close(self) -> None:
        self.socket.close(0)
        self.context.term()


class Region:
    """A segment the test owns and names in requests."""

    def __init__(self, size: int = 1 << 20):
        self.segment = Segment.create(size, prefix="graphferry-test-")
        self.name = self.segment.name

    def write(self, offset: int, data: bytes) -> None:
        self.segment.buf[offset:offset + len(data)] = data

    def close(self) -> None:
        self.segment.close()
        self.segment.unlink()
