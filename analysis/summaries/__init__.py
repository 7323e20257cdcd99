"""Posterior summaries and the tables derived from them: every statistic the reports show is computed here.

* :mod:`analysis.summaries.posterior`: pure functions of posterior draws, and :func:`summarise`, the per-trust
  tables of a fit (trust effects, Health Alpha, value index, ranks, trapped value, avoidable deaths);
* :mod:`analysis.summaries.derived`: tables computed from those and the panel (the SHMI funnel, board categories,
  national headlines, need and peer context), saved beside them so that the reports only format.
"""

from analysis.summaries.posterior import (  # noqa: F401
    Q,
    avoidable_excess,
    composites,
    dirichlet_weights,
    interval_summary,
    peer_quantile,
    rank_draws,
    rank_summary,
    stack_draws,
    summarise,
    trapped_value,
)
from analysis.summaries.derived import (  # noqa: F401
    categories,
    derived_tables,
    headline_values,
    headlines,
    mortality_category,
    need_context,
    shmi_funnel,
    value_category,
)
