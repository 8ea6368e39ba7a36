"""A query runs: checked, admitted, executed and masked, whatever carried it.

Responsible for the one GraphQL policy of every transport (``policy``): who is asking
(``auth``), the market and language it asks for with ``@inContext``
(``localization``), what every resolver of an operation can reach (``context``), each query
text parsed and validated once (``prepared``) under the limits (``limits``), persisted
operations and trusted documents (``persisted``), execution plans that run prepared
queries without graphql-core's per-field machinery (``plan``, ``plan_run``,
``plan_values``), admission against the budgets (``admission``), the cost a result
reports and settles (``settlement``), the executors (``running``) and the masking of
every error a client may not see (``masking``).
"""

__all__ = ["auth", "context", "limits", "operation", "persisted", "plan", "policy"]
