"""What an operation costs: estimated before it runs, counted after, and paid from
each client's budget.

Responsible for the IBM cost rules over the ``@cost`` and ``@listSize`` declarations
(``shopwindow.cost_directives``, in the kernel so that sources can declare them):
the estimate (``estimate``, with introspection's sizes from ``introspection``), the
actual cost of a result (``actual``), and the per-client leaky buckets (``budget``).
"""

__all__ = ["actual", "budget", "estimate"]
