"""The materializer's metrics keep their labels' values few, whatever producers send."""

from __future__ import annotations

from shopwindow.materializer.metrics import MAX_REASON_KINDS, MaterializerMetrics


def test_dead_letters_are_counted_by_the_kind_of_their_reason() -> None:
    metrics = MaterializerMetrics()
    metrics.count_dead_letter("prices", "PriceSnapshot failed validation: amount: negative")
    metrics.count_dead_letter("prices", "PriceSnapshot failed validation: currency: bad")
    metrics.count_dead_letter("reviews", "rating count 1 with sum 9 is impossible")
    sample = metrics.registry.get_sample_value
    name = "shopwindow_events_dead_lettered_total"
    assert sample(name, {"topic": "prices", "reason": "PriceSnapshot failed validation"}) == 2
    assert sample(name, {"topic": "reviews", "reason": "rating count 1 with sum 9 is impossible"})


def test_reasons_past_the_bound_are_counted_as_other() -> None:
    # A producer's data in every reason (an id, a number) must not grow the series.
    metrics = MaterializerMetrics()
    for n in range(MAX_REASON_KINDS + 25):
        metrics.count_dead_letter("catalog", f"product {n} is bad")
    sample = metrics.registry.get_sample_value
    name = "shopwindow_events_dead_lettered_total"
    assert sample(name, {"topic": "catalog", "reason": "other"}) == 25
    kinds = {
        s.labels["reason"]
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }
    assert len(kinds) == MAX_REASON_KINDS + 1
