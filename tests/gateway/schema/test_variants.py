"""Variants over real HTTP: options, variants with their own price and stock, the
product's price and stock over its variants, and the Shopify-style pickers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests import kinds
from tests.gateway.conftest import GatewayFactory, Seed
from tests.gateway.schema.test_queries import query
from tests.materializer.conftest import catalog, price, stock_take

SHIRT = {
    "options": [
        {"name": "size", "values": ["S", "M", "L"]},
        {"name": "color", "values": ["red", "blue"]},
    ],
    "variants": [
        {"sku": "M-RED", "options": {"size": "M", "color": "red"}},
        {"sku": "L-BLUE", "options": {"size": "L", "color": "blue"}, "barcode": "4006381333931"},
        {"sku": "S-RED", "options": {"size": "S", "color": "red"}},
    ],
}


def shirt() -> list[Any]:
    return [
        (kinds.CATALOG, {**catalog("shirt"), **SHIRT}),
        (kinds.PRICES, price("shirt", "20.00", segment_amounts={"gold": "18.00"})),
        (kinds.PRICES, {**price("shirt", "25.00"), "sku": "L-BLUE"}),
        (kinds.PRICES, {**price("shirt", "15.00"), "sku": "S-RED"}),
        (kinds.INVENTORY, {**stock_take(0, "shirt"), "sku": "M-RED"}),
        (kinds.INVENTORY, {**stock_take(9, "shirt"), "sku": "L-BLUE"}),
        # S-RED is cheapest but sold out: nothing was ever counted for it.
        (kinds.INVENTORY, {**stock_take(4, "shirt"), "sku": "UNLISTED"}),
    ]


VARIANT = (
    "sku title selectedOptions { name value } price { amount } stock { available } availableForSale"
)


_TYPES = {"o": "[SelectedOptionInput!]!", "i": "Boolean", "c": "Boolean"}


async def product(http: httpx.AsyncClient, fields: str, **variables: Any) -> Any:
    declared = ", ".join(f"${name}: {_TYPES[name]}" for name in variables)
    body = await query(
        http,
        f'query{f"({declared})" if declared else ""} {{ product(id: "shirt") {{ {fields} }} }}',
        **variables,
    )
    assert "errors" not in body, body
    return body["data"]["product"]


async def test_a_product_lists_its_options_and_variants_each_with_its_price_and_stock(
    seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("shirt", *shirt())
    async with gateway() as http:
        found = await product(
            http,
            f"options {{ name values }} variants(first: 10) {{ nodes {{ {VARIANT} barcode }} }} "
            "price { amount } stock { available status } availableForSale "
            "priceRange { minVariantPrice { amount } maxVariantPrice { amount } }",
        )
    assert found["options"] == [
        {"name": "size", "values": ["S", "M", "L"]},
        {"name": "color", "values": ["red", "blue"]},
    ]
    nodes = found["variants"]["nodes"]
    assert [(n["sku"], n["price"]["amount"], n["stock"]["available"]) for n in nodes] == [
        ("M-RED", "20.00", 0),
        ("L-BLUE", "25.00", 9),
        ("S-RED", "15.00", 0),
    ]
    assert nodes[0]["title"] == "M / red" and nodes[1]["barcode"] == "4006381333931"
    assert [n["availableForSale"] for n in nodes] == [False, True, False]
    # The lowest price among variants for sale; stock summed; the unlisted SKU hidden.
    assert found["price"] == {"amount": "25.00"}
    assert found["stock"] == {"available": 9, "status": "IN_STOCK"}
    assert found["availableForSale"] is True
    assert found["priceRange"] == {
        "minVariantPrice": {"amount": "15.00"},
        "maxVariantPrice": {"amount": "25.00"},
    }


async def test_variants_are_paged_with_cursors(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("shirt", *shirt())
    async with gateway() as http:
        first = await product(
            http,
            "variants(first: 2) { edges { cursor node { sku } } "
            "pageInfo { hasNextPage endCursor } }",
        )
        after = first["variants"]["pageInfo"]["endCursor"]
        rest = await product(
            http,
            f'variants(first: 2, after: "{after}") '
            "{ nodes { sku } pageInfo { hasNextPage } }",
        )
        bad = await query(
            http, '{ product(id: "shirt") { variants(after: "nope") { nodes { sku } } } }'
        )
        too_many = await query(
            http, '{ product(id: "shirt") { variants(first: 251) { nodes { sku } } } }'
        )
    assert [e["node"]["sku"] for e in first["variants"]["edges"]] == ["M-RED", "L-BLUE"]
    assert first["variants"]["pageInfo"]["hasNextPage"] is True
    assert rest["variants"] == {"nodes": [{"sku": "S-RED"}], "pageInfo": {"hasNextPage": False}}
    for refused in (bad, too_many):
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_picking_a_variant_by_its_options(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("shirt", *shirt())
    pick = (
        "variantBySelectedOptions(selectedOptions: $o, ignoreUnknownOptions: $i, "
        "caseInsensitiveMatch: $c) { sku }"
    )
    async with gateway() as http:
        exact = await product(
            http,
            pick,
            i=False,
            c=False,
            o=[{"name": "size", "value": "L"}, {"name": "color", "value": "blue"}],
        )
        partial = await product(http, pick, i=False, c=False, o=[{"name": "size", "value": "M"}])
        unknown = await product(
            http,
            pick,
            i=False,
            c=False,
            o=[{"name": "size", "value": "L"}, {"name": "fit", "value": "slim"}],
        )
        ignored = await product(
            http,
            pick,
            o=[{"name": "size", "value": "L"}, {"name": "fit", "value": "slim"}],
            i=True,
            c=False,
        )
        cased = await product(http, pick, o=[{"name": "SIZE", "value": "l"}], i=False, c=True)
        ambiguous = await product(
            http, pick, o=[{"name": "color", "value": "red"}], i=False, c=False
        )
        # More options than any product declares: refused before any matching.
        too_many = await query(
            http,
            'query($o: [SelectedOptionInput!]!) { product(id: "shirt") { '
            "variantBySelectedOptions(selectedOptions: $o) { sku } } }",
            o=[{"name": "size", "value": "L"}] * 1000,
        )
        # Lone surrogates match nothing; they never reach an error of their own.
        surrogates = await http.post(
            "/graphql",
            content=json.dumps(  # ASCII escapes: the JSON carries the lone surrogates.
                {
                    "query": 'query($o: [SelectedOptionInput!]!) { product(id: "shirt") { '
                    "variantBySelectedOptions(selectedOptions: $o, ignoreUnknownOptions: true) "
                    "{ sku } } }",
                    "variables": {"o": [{"name": "\ud800", "value": "\udfff"}]},
                }
            ),
            headers={"content-type": "application/json"},
        )
        first_available = await product(
            http,
            "selectedOrFirstAvailableVariant(selectedOptions: $o) { sku }",
            o=[{"name": "color", "value": "red"}, {"name": "fit", "value": "x"}],
        )
    assert exact["variantBySelectedOptions"] == {"sku": "L-BLUE"}
    # The only M is red: one variant matches, so it is the one.
    assert partial["variantBySelectedOptions"] == {"sku": "M-RED"}
    assert unknown["variantBySelectedOptions"] is None
    assert ignored["variantBySelectedOptions"] == {"sku": "L-BLUE"}
    assert cased["variantBySelectedOptions"] == {"sku": "L-BLUE"}
    assert ambiguous["variantBySelectedOptions"] is None
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Refused or matched to nothing, but answered: never a crash, never a trace.
    assert surrogates.status_code in (200, 400)
    body = surrogates.json()
    assert body.get("data") in (None, {"product": {"variantBySelectedOptions": None}})
    assert "Traceback" not in surrogates.text
    # Both red variants are sold out: the first matching one.
    assert first_available["selectedOrFirstAvailableVariant"] == {"sku": "M-RED"}


async def test_a_product_without_variants_has_one_default_variant(
    seed: Seed, gateway: GatewayFactory
) -> None:
    await seed(
        "shirt",
        (kinds.CATALOG, catalog("shirt")),
        (kinds.PRICES, price("shirt", "20.00")),
        (kinds.INVENTORY, stock_take(3, "shirt")),
    )
    async with gateway() as http:
        found = await product(
            http,
            f"options {{ name }} variants {{ nodes {{ {VARIANT} id }} }} price {{ amount }} "
            "stock { available } selectedOrFirstAvailableVariant(selectedOptions: $o) { sku }",
            o=[],
        )
    assert found["options"] == []
    assert found["variants"]["nodes"] == [
        {
            "sku": None,
            "title": "Default Title",
            "selectedOptions": [],
            "price": {"amount": "20.00"},
            "stock": {"available": 3},
            "availableForSale": True,
            "id": '["shirt",null]',
        }
    ]
    assert found["price"] == {"amount": "20.00"} and found["stock"] == {"available": 3}
    assert found["selectedOrFirstAvailableVariant"] == {"sku": None}


LOOKUP = "query($sku: String!) { variant(sku: $sku) { sku title product { id } } }"


async def test_a_sku_names_one_variant_and_never_one_of_two_products(
    seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("shirt", *shirt())
    async with gateway() as http:
        found = await query(http, LOOKUP, sku="L-BLUE")
        unknown = await query(http, LOOKUP, sku="NOPE")
        # Another product lists the same SKU (the catalog moved it, or a producer's
        # bug): neither product answers for it until one drops it.
        await seed("other", (kinds.CATALOG, {**catalog("other"), **SHIRT}))
        conflict = await query(http, LOOKUP, sku="L-BLUE")
        await seed("other", (kinds.CATALOG, catalog("other")))
        moved_back = await query(http, LOOKUP, sku="L-BLUE")
    assert found["data"]["variant"] == {
        "sku": "L-BLUE",
        "title": "L / blue",
        "product": {"id": "shirt"},
    }
    assert unknown == {"data": {"variant": None}}
    assert conflict["data"]["variant"] is None
    assert conflict["errors"][0]["extensions"]["code"] == "AMBIGUOUS_SKU"
    assert moved_back["data"]["variant"]["product"] == {"id": "shirt"}


async def test_a_hostile_sku_is_a_clean_error(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("shirt", *shirt())
    async with gateway() as http:
        for sku in ("", "x" * 10_240):
            refused = await query(http, LOOKUP, sku=sku)
            assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        surrogate = await http.post(
            "/graphql",
            content=json.dumps({"query": LOOKUP, "variables": {"sku": "\ud800\udfff\ud800"}}),
            headers={"content-type": "application/json"},
        )
    assert surrogate.status_code in (200, 400)
    assert surrogate.json().get("data") in (None, {"variant": None})
    assert "Traceback" not in surrogate.text
