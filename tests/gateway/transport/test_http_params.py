"""A request's headers, read in one pass, are the headers Starlette would read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from shopwindow.gateway.transport.http_params import header_values

# Names as an ASGI server hands them (lowercase), drawn from a few so that they repeat;
# values any bytes a client may send, which decode as latin-1.
_NAMES = st.sampled_from([b"authorization", b"accept", b"x-request-id", b"content-type", b"a"])
_HEADERS = st.lists(st.tuples(_NAMES, st.binary(max_size=40)), max_size=12)


@given(_HEADERS)
def test_every_header_reads_as_starlette_reads_it(raw: list[tuple[bytes, bytes]]) -> None:
    scope = {"type": "http", "headers": raw}
    ours, theirs = header_values(scope), Headers(scope=scope)
    for name in {name.decode() for name, _ in raw} | {"absent"}:
        assert ours.get(name) == theirs.get(name), name


def test_a_repeated_header_is_its_first_value() -> None:
    # Two Authorization headers: the one every check reads must be the same one.
    scope = {"type": "http", "headers": [(b"authorization", b"Bearer a"), (b"authorization", b"b")]}
    assert header_values(scope)["authorization"] == "Bearer a"
