"""Search and discovery: an embedded index of the changelog, behind the GraphQL fields
``search``, ``searchSuggestions`` and ``trending``."""
