"""Behind a federated router: the Federation v2 subgraph and federated tracing.

Responsible for the subgraph schema, built from the public schema's parts
(``subgraph``), and ftv1 traces for a router that asks for them (``ftv1``).
"""

__all__ = ["ftv1", "subgraph"]
