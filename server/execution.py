"""Running a gathered batch: one model call, then split the output per request.

When the call fails for a batch of several requests, each request is re-run
alone, so one bad graph does not fail its neighbours. After ``forward`` the
output's leading size is checked before it is split.
"""

import logging
import time
from typing import Callable

import numpy as np
import torch

from graphferry.protocol import wire
from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import Error, InvalidInput, ModelError

from .batching import Assembler, Pending
from .config import ModelConfig
from .status_page import StatusPage

log = logging.getLogger("graphferry.worker")
Send = Callable[[bytes, bytes], None]


class Executor:
    def __init__(self, model, config: ModelConfig, assembler: Assembler, page: StatusPage):
        self.model = model
        self.config = config
        self.assembler = assembler
        self.page = page
        self.node_level = config.output.level == "node"

    def warm_up(self) -> None:
        """Run the model once on a tiny graph so the first request pays no set-up."""
        spec = self.config.input
        x = np.ones((2, spec.features), dtype=np.float32)
        self.assembler.x[:2] = torch.from_numpy(x).to(self.assembler.x.dtype)
        self.assembler.edges_np[:, :1] = ((0,), (1,))
        self.assembler.ptr_np[:2] = (0, 2)
        self.assembler.batch_np[:2] = 0
        if self.assembler.edge_attr is not None:
            self.assembler.edge_attr[:1] = 1
        first = Pending(b"", 0, 0, 1, 0, 2, 0, 1, None, (0, 0, 0))
        self.call(self.assembler.build(first, first), first, first)
        self.assembler.reset()

    def run(self, send: Send) -> None:
        """Run every pending request and answer each one; leaves the assembler empty."""
        pending = self.assembler.pending
        self.page.begin_batch([p.entry for p in pending], len(pending), time.monotonic_ns())
        errors = 0
        try:
            output = self.call_or_none(pending[0], pending[-1])
            if output is None and len(pending) > 1:
                for request in pending:  # find the one that fails; answer the rest
                    errors += self.answer(send, request, self.call_or_none(request, request),
                                          request)
            else:
                for request in pending:
                    errors += self.answer(send, request, output, pending[0])
        finally:
            self.page.end_batch(len(pending), self.assembler.graphs, errors)
            self.assembler.reset()

    def call_or_none(self, first: Pending, last: Pending):
        try:
            return self.call(self.assembler.build(first, last), first, last)
        except Error as exc:
            self.last_error = exc
        except Exception as exc:  # the model's own failure: log it, tell the client little
            log.exception("model %s raised", type(self.model).__name__)
            self.last_error = ModelError(f"the model raised {type(exc).__name__}: "
                                         f"{str(exc)[:200]}", ErrorCode.MODEL_ERROR)
        return None

    def call(self, batch, first: Pending, last: Pending) -> torch.Tensor:
        with torch.inference_mode():
            output = self.model.forward(batch)
        if not isinstance(output, torch.Tensor):
            raise ModelError(f"forward returned {type(output).__name__}, not a tensor",
                             ErrorCode.BAD_MODEL_OUTPUT)
        rows = (last.node_start + last.nodes - first.node_start if self.node_level
                else last.graph_start + last.graphs - first.graph_start)
        width = self.config.output.width
        if output.dim() == 1 and width == 1:
            output = output.unsqueeze(1)
        if tuple(output.shape) != (rows, width):
            raise ModelError(f"forward returned shape {tuple(output.shape)}; the config "
                             f"declares {self.config.output.level}-level width {width}, so "
                             f"({rows}, {width}) was expected", ErrorCode.BAD_MODEL_OUTPUT)
        return output.to("cpu", torch.float32).contiguous()

    def answer(self, send: Send, request: Pending, output, base: Pending) -> int:
        """Reply to one request from its rows of ``output``; returns 1 if it was an error."""
        try:
            if output is None:
                raise self.last_error
            start, count = ((request.node_start - base.node_start, request.nodes)
                            if self.node_level else
                            (request.graph_start - base.graph_start, request.graphs))
            rows = output[start:start + count].numpy()
            send(request.identity, self.payload(request, rows))
            return 0
        except Error as exc:
            send(request.identity, wire.error_reply(request.request_id, exc))
            return 1

    def payload(self, request: Pending, rows: np.ndarray) -> bytes:
        shape = list(rows.shape)
        if rows.nbytes <= wire.INLINE_OUTPUT_BYTES:
            return wire.ok_reply(request.request_id, shape=shape, dtype="float32",
                                 data=rows.tobytes(), batch=len(self.assembler.pending))
        slot = request.out_slot
        if slot is None or slot.length < rows.nbytes:
            have = 0 if slot is None else slot.length
            raise InvalidInput(f"the output needs {rows.nbytes} bytes; inline replies carry "
                               f"at most {wire.INLINE_OUTPUT_BYTES} and the output slot has "
                               f"{have}. Hint: pass out_offset/out_length of at least "
                               f"{rows.nbytes} bytes", ErrorCode.OUTPUT_TOO_SMALL)
        slot.region.write(slot.offset, np.ascontiguousarray(rows))
        return wire.ok_reply(request.request_id, shape=shape, dtype="float32", in_slot=True,
                             batch=len(self.assembler.pending))
