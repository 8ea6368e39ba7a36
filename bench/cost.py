"""How long estimating an operation's cost takes, for a 2,000-token operation.

The estimate runs before execution (and spends the client's budget), uncached for every
new document and every new value of its size variables. Measured in the same run:
graphql-core's parse and validation of the same document, which every new document
pays anyway; the ratio says what the estimate adds to it. And how long counting the
actual cost of a result takes, against serializing the result.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import orjson
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse, validate
from graphql.language import Lexer, Source, TokenKind

from bench.common import report
from shopwindow.gateway.cost.actual import Collected
from shopwindow.gateway.cost.estimate import CostEstimator
from shopwindow.gateway.schema.build import build_schema
from shopwindow.materializer.sources import CORE

TARGET_TOKENS = 2000
FRAGMENT = (
    "fragment Card on Product { id name brand category price { amount listAmount currency "
    "discountPercent } stock { available status } rating { average count } }"
)


CARD = FRAGMENT[FRAGMENT.index("{") :]


def operation_of(tokens: int, *, inline: bool) -> str:
    """An operation of about ``tokens`` tokens: aliased lists and nested connections,
    with their product fields in a fragment or written out each time."""
    card, fragment = (CARD, "") if inline else ("{ ...Card }", FRAGMENT)
    fields = []
    n = 0
    while True:
        fields.append(
            f'p{n}: products(ids: ["a{n}", "b{n}", "c{n}"]) {card} '
            f'c{n}: productsByCategory(category: "shoes", first: 5) '
            f"{{ edges {{ cursor node {card} }} pageInfo {{ hasNextPage endCursor }} }}"
        )
        n += 1
        text = "query Big { " + " ".join(fields) + " } " + fragment
        if count_tokens(text) >= tokens:
            return text


def count_tokens(text: str) -> int:
    lexer = Lexer(Source(text))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def per_call_ms(call: Callable[[], object], seconds: float = 2.0) -> tuple[float, float]:
    """Median and p99 of one call, in milliseconds, over about ``seconds``."""
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def main() -> None:
    schema = build_schema((), CORE)._schema
    estimator = CostEstimator(schema)
    for inline in (False, True):
        text = operation_of(TARGET_TOKENS, inline=inline)
        document = parse(text)
        assert not validate(schema, document)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        cost = estimator.estimate(operation, fragments, {})
        estimate_p50, estimate_p99 = per_call_ms(
            lambda: estimator.estimate(operation, fragments, {})  # noqa: B023 (called now)
        )
        parse_p50, parse_p99 = per_call_ms(lambda: validate(schema, parse(text)))  # noqa: B023
        shape = "fields written out" if inline else "a fragment"
        report(
            f"cost estimate of a {count_tokens(text):,}-token operation with {shape} "
            f"(estimated cost {cost:,})",
            [
                (
                    "estimate p50 / p99",
                    f"{estimate_p50:.3f} / {estimate_p99:.3f} ms  (target < 1 ms)",
                ),
                ("baseline: parse + validate p50 / p99", f"{parse_p50:.3f} / {parse_p99:.3f} ms"),
                ("estimate / (parse + validate), p50", f"{estimate_p50 / parse_p50:.3f}"),
            ],
        )
    _actual(estimator)


def _actual(estimator: CostEstimator) -> None:
    # The actual cost is counted on every result: a full page of 100 products against
    # serializing that result, which every response pays.
    ids = ", ".join(f'"p{n}"' for n in range(100))
    text = f"{{ products(ids: [{ids}]) {CARD} }}"
    document = parse(text)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    card = {
        "id": "p",
        "name": "Runner",
        "brand": "Acme",
        "category": "shoes",
        "price": {"amount": "17.99", "listAmount": None, "currency": "EUR", "discountPercent": 0},
        "stock": {"available": 3, "status": "IN_STOCK"},
        "rating": {"average": 4.5, "count": 12},
    }
    data = {"products": [dict(card, id=f"p{n}") for n in range(100)]}
    # The gateway keeps each document's collected selections with the document.
    collected: Collected = {}
    actual_p50, actual_p99 = per_call_ms(lambda: estimator.actual(operation, {}, data, collected))
    dumps_p50, dumps_p99 = per_call_ms(lambda: orjson.dumps({"data": data}))
    report(
        f"actual cost of a result of 100 products (actual cost "
        f"{estimator.actual(operation, {}, data):,})",
        [
            ("count p50 / p99", f"{actual_p50:.3f} / {actual_p99:.3f} ms"),
            ("baseline: orjson serialization p50 / p99", f"{dumps_p50:.3f} / {dumps_p99:.3f} ms"),
            ("count / serialization, p50", f"{actual_p50 / dumps_p50:.1f}"),
        ],
    )


if __name__ == "__main__":
    main()
