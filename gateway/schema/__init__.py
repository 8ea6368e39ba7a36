"""The GraphQL schema: ``Product`` and the other types, the root fields, and the build.

Responsible for what clients can ask: the root query (``query``), a ``Product`` of a
document (``product``), the fields sources and extensions add (``added_fields``),
connections (``connections``), source positions as arguments (``positions``), the
subscription fields the live fan-out serves (``subscriptions``), search's fields
(``search``), variants and the checks of a SKU argument (``variants``), ``@inContext``
and its country and language enums (``in_context``), and the build
of the public schema from all of them (``build``). The ``Product`` type itself is in
the kernel (``shopwindow.product_type``).
"""

__all__ = ["build", "positions", "product", "subscriptions", "variants"]
