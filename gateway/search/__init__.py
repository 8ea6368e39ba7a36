"""Search and discovery: an embedded index of the changelog.

Responsible for the engine behind the GraphQL fields ``search``, ``searchSuggestions``
and ``trending`` (declared in ``schema.search``): the rows the index keeps of a
document (``rows``, ``changelog_rows``, ``conversion``), the changelog feed that keeps
it current (``feed``), the engine's interface (``engine``) and its tantivy
implementation (``tantivy_index``, ``tantivy_documents``, ``tantivy_query``), search by
option at the variant level (``variant_terms``, ``variant_table``, ``variant_prices``,
``variant_facets``), and the service that bounds what a client may ask of it
(``service``).
"""

__all__ = ["engine", "feed", "languages", "rows", "service", "tantivy_index", "tantivy_query"]
