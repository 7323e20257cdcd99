"""A fit's record in words (timings, fitting attempts), from the attributes saved with it.

Pure functions of the attribute dictionary, with no modelling imports, so that the fitting code and the report
layer can both use them without the report depending on the sampler (or the fitting code on the report).
"""

from __future__ import annotations

import json


def timing_text(attrs: dict, sampler: str, digits: int = 0) -> str:
    """Compilation and sampling time of a fit, in words: nutpie compiles before sampling; PyMC's NUTS and numpyro
    compile inside ``pm.sample``, so their sampling time includes compilation."""
    f = lambda key: f"{float(attrs.get(key, float('nan'))):,.{digits}f} s"
    if sampler == "nutpie":
        return f"compilation {f('svi_compile_seconds')}, sampling {f('svi_sampling_seconds')}"
    return f"sampling {f('svi_sampling_seconds')}, compilation included"


def attempts(attrs: dict) -> list[dict]:
    """The fitting attempts recorded with a fit (``svi_attempts``); one for a fit that passed first time."""
    try:
        att = json.loads(attrs.get("svi_attempts") or "[]")
    except (TypeError, ValueError):
        return []
    return att if isinstance(att, list) else []


def attempts_text(attrs: dict) -> str:
    """The fitting attempts in words, for the log and the paper; empty when there was one attempt."""
    att = attempts(attrs)
    if len(att) < 2:
        return ""
    first, last = att[0], att[-1]
    d = first["divergences"]
    return (f"The first attempt (target acceptance {first['target_accept']:g}) had {d} divergent "
            f"transition{'s' if d != 1 else ''} and nothing else outside the gate, so the model was refitted with "
            f"the same seed at target acceptance {last['target_accept']:g}, which "
            + ("passed the gate." if last["passed"] else
               f"also failed it ({last['divergences']} divergences): the results are not publishable."))
