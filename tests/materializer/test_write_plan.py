"""The write planner: inserts for new documents, minimal guarded updates otherwise."""

from __future__ import annotations

from shopwindow.materializer.write_plan import InsertPlan, ReplacePlan, UpdatePlan, plan_write


def test_a_new_document_is_inserted() -> None:
    doc = {"_id": "abc", "version": 1, "_meta": {"revision": 1}}
    assert plan_write(None, doc) == InsertPlan(doc)


def test_an_update_sets_only_what_changed_and_is_guarded_by_the_revision() -> None:
    old = {
        "_id": "abc",
        "version": 1,
        "stock": {"quantity": 1},
        "popularity": {"views": 3},
        "_meta": {"revision": 4, "applied": {"a:0": 1}, "ids": ["x"]},
    }
    new = {
        "_id": "abc",
        "version": 2,
        "stock": {"quantity": 0},
        "popularity": {"views": 3},
        "_meta": {
            "revision": 5,
            "applied": {"a:0": 2},
            "ids": ["x"],
        },
    }
    plan = plan_write(old, new)
    assert plan == UpdatePlan(
        filter={"_id": "abc", "_meta.revision": 4},
        update={
            "$set": {
                "version": 2,
                "stock": {"quantity": 0},
                "_meta.revision": 5,
                "_meta.applied": {"a:0": 2},
            }
        },
    )


def test_fields_that_disappear_are_unset() -> None:
    old = {"_id": "abc", "legacy": 1, "_meta": {"revision": 1}}
    new = {"_id": "abc", "_meta": {"revision": 2}}
    plan = plan_write(old, new)
    assert isinstance(plan, UpdatePlan)
    assert plan.update["$unset"] == {"legacy": ""}


def test_a_value_of_another_type_is_set_even_when_equal() -> None:
    old = {"_id": "abc", "flag": 1, "_meta": {"revision": 1}}
    new = {"_id": "abc", "flag": True, "_meta": {"revision": 2}}
    plan = plan_write(old, new)
    assert isinstance(plan, UpdatePlan)
    assert plan.update["$set"]["flag"] is True


def test_a_document_upgraded_on_reading_is_replaced_whole() -> None:
    old = {"_id": "abc", "version": 1, "_meta": {"revision": 4, "upgraded_from": 1}}
    new = {"_id": "abc", "version": 2, "_meta": {"revision": 5}}
    assert plan_write(old, new) == ReplacePlan(
        filter={"_id": "abc", "_meta.revision": 4}, document=new
    )


def test_a_change_to_one_skus_entry_writes_that_entry_alone() -> None:
    entries = {f"SKU-{n}": {"id": f"SKU-{n}", "quantity": n} for n in range(2048)}
    old = {"_id": "abc", "version": 1, "variant_stock": entries, "_meta": {"revision": 1}}
    changed = {**entries, "a%2Eb": {"id": "a.b", "quantity": 1}}
    changed["SKU-7"] = {"id": "SKU-7", "quantity": 6}
    del changed["SKU-9"]
    new = {"_id": "abc", "version": 2, "variant_stock": changed, "_meta": {"revision": 2}}
    plan = plan_write(old, new, frozenset({"_meta", "variant_stock"}))
    assert plan == UpdatePlan(
        filter={"_id": "abc", "_meta.revision": 1},
        update={
            "$set": {
                "version": 2,
                "variant_stock.SKU-7": {"id": "SKU-7", "quantity": 6},
                "variant_stock.a%2Eb": {"id": "a.b", "quantity": 1},
                "_meta.revision": 2,
            },
            "$unset": {"variant_stock.SKU-9": ""},
        },
    )
    # Without it, the whole map is written.
    whole = plan_write(old, new)
    assert isinstance(whole, UpdatePlan) and whole.update["$set"]["variant_stock"] == changed
