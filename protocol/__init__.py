"""Wire constants and errors shared by the client and the server.

Mirrors docs/protocol.md; imports neither torch nor zmq (msgpack only in
``wire``).
"""
