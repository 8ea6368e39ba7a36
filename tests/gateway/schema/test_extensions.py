"""BFF extensions: the worked example, and discovery through entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shopwindow.extensions import ExtensionError, load_extensions
from shopwindow.gateway.schema.build import build_schema
from tests import kinds
from tests.gateway.conftest import GatewayFactory, Seed
from tests.materializer.conftest import catalog

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "similar_products"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))


async def test_the_example_extension_serves_similar_products_through_the_loader(
    example_on_path: None, seed: Seed, gateway: GatewayFactory
) -> None:
    for product_id, category in [("a", "shoes"), ("b", "shoes"), ("c", "shoes"), ("d", "bags")]:
        await seed(product_id, (kinds.CATALOG, catalog(product_id, category=category)))
    query = '{ product(id: "a") { id similarProducts(first: 5) { id category } } }'
    async with gateway(extensions="shopwindow_similar_products:extension") as http:
        body = (await http.post("/graphql", json={"query": query})).json()
        metrics = (await http.get("/metrics")).text
    assert body["data"]["product"]["similarProducts"] == [
        {"id": "b", "category": "shoes"},
        {"id": "c", "category": "shoes"},
    ]
    # "a" in one batch, then "b" and "c" in a second.
    assert 'shopwindow_dataloader_batch_size_count{loader="products"} 2.0' in metrics


def test_installed_extensions_are_found_by_entry_point(
    example_on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "shopwindow_similar_products-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shopwindow-similar-products\nVersion: 0.1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [shopwindow.extensions]
        similar = shopwindow_similar_products:extension
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    extensions = load_extensions("")
    assert [e.name for e in extensions] == ["similar-products"]
    assert "similarProducts(first: Int! = 4): [Product!]!" in build_schema(extensions).as_str()


@pytest.mark.parametrize("reference", ["no_such_module:extension", "json:dumps"])
def test_a_broken_extension_stops_start_up_with_its_name(reference: str) -> None:
    with pytest.raises(ExtensionError, match=reference.split(":")[0]):
        load_extensions(reference)


def test_the_core_schema_has_no_extension_fields() -> None:
    assert "similarProducts" not in build_schema().as_str()
