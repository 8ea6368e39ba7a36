"""Federated tracing (ftv1): per-field timing and errors for a router that asks for it.

A router sends ``apollo-federation-include-trace: ftv1``; the subgraph answers with
``extensions.ftv1``, a base64 ``Trace`` of Apollo's usage-reporting protobuf. Only the
part of ``Trace`` a subgraph fills is declared here, with the field numbers of Apollo's
``reports.proto``: declaring it through ``protobuf``'s descriptors needs no generated
code and no compiler.

``FieldTracer`` is a graphql-core middleware: it times every field's resolver (and the
wait for an async one) relative to the start of the operation.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import Message
from graphql import GraphQLError, GraphQLResolveInfo
from graphql.pyutils import is_awaitable

HEADER = "apollo-federation-include-trace"
HEADER_VALUE = "ftv1"

_F = descriptor_pb2.FieldDescriptorProto
# name -> [(field, number, type, label, message type name or None)]
_MESSAGES: dict[str, list[tuple[str, int, int, int, str | None]]] = {
    "Location": [
        ("line", 1, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, None),
        ("column", 2, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, None),
    ],
    "Error": [
        ("message", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
        ("location", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".shopwindow.ftv1.Trace.Location"),
        ("time_ns", 3, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("json", 4, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
    ],
    "Node": [
        ("response_name", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
        ("index", 2, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, None),
        ("type", 3, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
        ("start_time", 8, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("end_time", 9, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("error", 11, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".shopwindow.ftv1.Trace.Error"),
        ("child", 12, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".shopwindow.ftv1.Trace.Node"),
        ("parent_type", 13, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
        ("original_field_name", 14, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None),
    ],
}
_TRACE = [
    ("end_time", 3, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.Timestamp"),
    ("start_time", 4, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.Timestamp"),
    ("duration_ns", 11, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
    ("root", 14, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".shopwindow.ftv1.Trace.Node"),
]


def _add_fields(
    message: descriptor_pb2.DescriptorProto,
    fields: Sequence[tuple[str, int, int, int, str | None]],
) -> None:
    for name, number, kind, label, type_name in fields:
        field = message.field.add(name=name, number=number, type=kind, label=label)
        if type_name is not None:
            field.type_name = type_name


def _trace_class() -> type[Message]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="shopwindow/ftv1.proto",
        package="shopwindow.ftv1",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    trace = proto.message_type.add(name="Trace")
    _add_fields(trace, _TRACE)
    for name, fields in _MESSAGES.items():
        _add_fields(trace.nested_type.add(name=name), fields)
    node = next(m for m in trace.nested_type if m.name == "Node")
    node.oneof_decl.add(name="id")
    for field in node.field:
        if field.name in ("response_name", "index"):
            field.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shopwindow.ftv1.Trace"))


Trace: Any = _trace_class()
"""The ``Trace`` message (a subset of Apollo's ``reports.proto``)."""


def wants_trace(headers: Any) -> bool:
    """Whether a router asked for a trace of this request."""
    return bool(headers.get(HEADER, "").strip().lower() == HEADER_VALUE)


class FieldTracer:
    """Times the fields of one operation; ``encode`` makes its ``extensions.ftv1``.

    Args:
        clock_ns: A monotonic clock, in nanoseconds.
        wall_clock_ns: The time of day, in nanoseconds (for the trace's start and end).
    """

    def __init__(
        self,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._clock_ns = clock_ns
        self._started_ns = clock_ns()
        self._started_wall_ns = wall_clock_ns()
        self._root = Trace.Node()
        self._nodes: dict[tuple[str | int, ...], Any] = {(): self._root}

    def resolve(
        self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], **args: Any
    ) -> Any:
        """The middleware: graphql-core calls it around every field's resolver."""
        start_ns = self._clock_ns() - self._started_ns
        result = next_(root, info, **args)
        if is_awaitable(result):
            return self._settled(result, info, start_ns)
        self._record(info, start_ns)
        return result

    async def _settled(
        self, result: Awaitable[Any], info: GraphQLResolveInfo[Any], start_ns: int
    ) -> Any:
        try:
            return await result
        finally:
            self._record(info, start_ns)

    def _record(self, info: GraphQLResolveInfo[Any], start_ns: int) -> None:
        node = self._node(tuple(info.path.as_list()))
        node.start_time = start_ns
        node.end_time = self._clock_ns() - self._started_ns
        node.type = str(info.return_type)
        node.parent_type = info.parent_type.name
        if info.field_name != node.response_name:
            node.original_field_name = info.field_name

    def _node(self, path: tuple[str | int, ...]) -> Any:
        node = self._nodes.get(path)
        if node is None:
            parent = self._node(path[:-1])
            node = parent.child.add()
            key = path[-1]
            if isinstance(key, int):
                node.index = key
            else:
                node.response_name = key
            self._nodes[path] = node
        return node

    def encode(self, errors: Sequence[GraphQLError] = ()) -> str:
        """The trace, with ``errors`` (as the client sees them) on their fields'
        nodes, as ``extensions.ftv1`` carries it."""
        duration_ns = self._clock_ns() - self._started_ns
        for error in errors:
            node = self._node(tuple(error.path or ()))
            node.error.add(
                message=error.message,
                location=[
                    {"line": loc.line, "column": loc.column} for loc in error.locations or ()
                ],
                json=orjson.dumps(error.formatted).decode(),
            )
        trace = Trace(duration_ns=duration_ns, root=self._root)
        trace.start_time.FromNanoseconds(self._started_wall_ns)
        trace.end_time.FromNanoseconds(self._started_wall_ns + duration_ns)
        return base64.b64encode(trace.SerializeToString()).decode()
