"""Reading documents: every lookup of a request, kept fresh by the changelog.

Responsible for loaders that batch every lookup of a request (``loaders``), the
document cache fed by the changelog (``document_cache``), read-your-writes
(``consistency``), the freshness every result reports (``freshness``), the generation
a rebuild switched to (``served_generation``), and what every changelog reader does alike
(``changelog_reading``).
"""

__all__ = [
    "changelog_reading",
    "consistency",
    "document_cache",
    "freshness",
    "loaders",
    "served_generation",
]
