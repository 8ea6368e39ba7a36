"""Trending: views and orders decayed exponentially by their own event time.

The fold has no clock, and a replay must give the same score whatever order the two
topics interleave in. So the section keeps exact counts per time bucket (integers add
up the same in any order), and the score is a pure function of those counts:

    score = log2( sum over buckets of weight(bucket) * 2 ** (bucket_time / half_life) )

An event one half-life newer than another counts twice as much. Because every product's
score is expressed against the same origin (the epoch), scores compare across products
at any moment without a wall clock: ranking by it equals ranking by the decayed weight
"now", whenever now is. The score rises by one per half-life of steady traffic.

Buckets are a twelfth of a half-life wide; those more than ``HORIZON_HALF_LIVES``
half-lives older than the newest are dropped (they would weigh under 0.1 %), and so are
events arriving that late. Both rules depend only on the newest bucket, so the kept
buckets are the same for any arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

VIEW_WEIGHT = 1
ORDER_WEIGHT = 10
BUCKETS_PER_HALF_LIFE = 12
HORIZON_HALF_LIVES = 10


def bucket_width_s(half_life_s: int) -> int:
    """The width of one bucket for ``half_life_s``, at least a second."""
    return max(half_life_s // BUCKETS_PER_HALF_LIFE, 1)


def empty() -> dict[str, Any]:
    """Recent activity of a product nothing happened to yet."""
    return {"bucket_s": None, "counts": {}}


def count(recent: dict[str, Any], at: datetime, is_order: bool, half_life_s: int) -> None:
    """Count a view or an order that happened ``at`` into ``recent`` (in place).

    Args:
        recent: The section's ``recent`` part: ``{"bucket_s", "counts"}``; counts map a
            bucket number (as a string: it is a MongoDB field name) to ``[views, orders]``.
        at: The event's own time (timezone-aware).
        is_order: An order, else a view.
        half_life_s: The configured half-life.
    """
    width = bucket_width_s(half_life_s)
    counts: dict[str, list[int]] = recent["counts"]
    if recent["bucket_s"] != width:
        # The half-life setting changed: earlier counts are re-bucketed, which is exact
        # for merges of whole buckets and close otherwise; a rebuild recomputes exactly.
        old = recent["bucket_s"] or width
        merged: dict[str, list[int]] = {}
        for key, (views, orders) in counts.items():
            slot = merged.setdefault(str(int(key) * old // width), [0, 0])
            slot[0] += views
            slot[1] += orders
        counts = recent["counts"] = merged
        recent["bucket_s"] = width
    bucket = math.floor(at.timestamp()) // width
    newest = max((int(key) for key in counts), default=bucket)
    horizon = HORIZON_HALF_LIVES * BUCKETS_PER_HALF_LIFE
    if bucket < newest - horizon:
        return
    slot = counts.setdefault(str(bucket), [0, 0])
    slot[1 if is_order else 0] += 1
    if bucket > newest:
        for key in [key for key in counts if int(key) < bucket - horizon]:
            del counts[key]


def score(recent: Mapping[str, Any], half_life_s: int) -> float:
    """The trending score of ``recent``; 0.0 without activity.

    Args:
        recent: As kept by ``count``.
        half_life_s: The configured half-life.
    """
    counts: Mapping[str, list[int]] = recent.get("counts") or {}
    width = recent.get("bucket_s")
    if not counts or not width:
        return 0.0
    buckets = sorted((int(key), views, orders) for key, (views, orders) in counts.items())
    newest = buckets[-1][0]
    total = 0.0
    for bucket, views, orders in buckets:
        weight = views * VIEW_WEIGHT + orders * ORDER_WEIGHT
        total += weight * 2.0 ** ((bucket - newest) * width / half_life_s)
    if total <= 0:
        return 0.0
    # Centre of the newest bucket, in half-lives since the epoch.
    origin = (newest * width + width / 2) / half_life_s
    return float(round(origin + math.log2(total), 9))
