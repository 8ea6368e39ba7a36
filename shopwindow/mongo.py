"""Building the MongoDB client both roles use, with the codecs the document needs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient, WriteConcern

MongoDocument = dict[str, Any]

# What the materializer writes before it commits offsets past the records: it must
# survive a failover (majority) and a crash (journaled). A standalone server, and the
# SecantusDB stand-in, acknowledge w: majority before the journal is flushed, and a
# SIGKILL then loses writes already acknowledged; on a replica set majority waits for
# the journal by default, so j costs nothing there.
DURABLE = WriteConcern(w="majority", j=True)


class _DecimalCodec(TypeCodec):
    # Money is Decimal in Python and Decimal128 in MongoDB: exact both ways.
    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


CODEC_OPTIONS: CodecOptions[MongoDocument] = CodecOptions(
    document_class=dict,
    tz_aware=True,
    type_registry=TypeRegistry([_DecimalCodec()]),
)


def mongo_client(uri: str, app_name: str, **options: Any) -> AsyncMongoClient[MongoDocument]:
    """A client that decodes money as ``Decimal`` and times as aware UTC ``datetime``.

    It connects lazily, on first use; call ``close()`` when done.

    A ``timeoutMS`` bounds operations only. ``close()`` sends ``endSessions`` outside
    any operation, which on a half-open connection would wait forever, so the socket
    gets the same bound (``socketTimeoutMS``) unless one is given.

    Args:
        uri: The connection string.
        app_name: Shown in the server's logs and ``currentOp``.
        **options: Further ``AsyncMongoClient`` options (timeouts, pool size).

    Returns:
        The client.
    """
    if options.get("timeoutMS") is not None:
        options.setdefault("socketTimeoutMS", options["timeoutMS"])
    return AsyncMongoClient(
        uri,
        appname=app_name,
        tz_aware=True,
        type_registry=CODEC_OPTIONS.type_registry,
        **options,
    )
