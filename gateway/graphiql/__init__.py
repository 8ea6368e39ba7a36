"""GraphiQL without a CDN: the pinned npm release, served from inside the package.

Responsible for the page browsers get at ``GET /graphql`` (``page``) and its assets,
which are the files of ``vendor/`` (brought in by ``make vendor-graphiql``, with their
licences and a manifest) and our own ``start.js``. Nothing is loaded from another host,
so the page works offline and in air-gapped clusters.
"""

__all__ = ["page"]
