"""A product changes: live subscriptions served from the changelog.

Responsible for the changelog reader of one gateway process (``reader``), which feeds
the fan-out (``fanout``): one execution per change for every group of like
subscriptions. A connection's subscriptions and their framing (``connection``), the
checks and grouping of live operations (``operations``), delivery to one connection
(``outbox``) and the batched first reads of new subscriptions (``first_reads``).
"""

__all__ = ["connection", "fanout", "operations", "reader"]
