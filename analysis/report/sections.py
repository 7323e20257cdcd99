"""Generated sections of the paper: the tables whose length depends on the results (data sources, peer groups,
priors, trapped value, diagnostics) and the validation and claims sections, rendered item by item from their
manifests (:mod:`analysis.manifest`)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.report.data import Results, config_value
from analysis.report.text import code_span, count, known, md, md_table, money, num, table_cell
from analysis.results import ResultsDir
from analysis.report.trapped import national_table


#: care settings of the trapped value, in the order the documents list them
SETTINGS = [("total", "All settings"), ("apc", "Admitted patient care"), ("op", "Outpatients"), ("ae", "A&E")]


def priors_table(cfg: dict | None) -> str:
    """The priors of the fitted config, one row per parameter, with each indicator's scale filled in."""
    pr, q = (cfg or {}).get("priors"), (cfg or {}).get("quality", {})
    if not pr:
        return "*The configuration of these results records no priors.*\n"
    # reference scales r (config [priors]); r_k per quality indicator, r_j per cost outcome
    from models import indicators as registry

    qs = {md(registry.get(k).short) if k in registry.INDICATORS else k.upper(): float(pr["quality_scale"][k])
          for k in q.get("indicators", pr["quality_scale"])}  # the records' short labels (SHMI, A&E, Cancer FDS)
    cs = {j: float(pr["cost_scale"][j]) for j in (cfg or {}).get("cost", {}).get("outcomes", pr["cost_scale"])}
    listed = lambda scales, div=1: "; ".join(f"{k} {num(v / div, 3)}" for k, v in scales.items())
    sv = num(float(pr["scale_variation"]), 2)
    corr = (f"LKJ(eta = {num(q.get('lkj_eta'), 1)})" if q.get("correlation") == "lkj" else
            f"loadings ~ Uniform(-1, 1), {md(str(q.get('factor_anchor', '')).upper())} loading Uniform(0, 1)")
    rows = [["Peer mean $\\mu_{gk}$", "Normal(national centre, $r_k$)", listed(qs)],
            ["Need effect $\\beta_{kp}$ (per SD)", "Normal(0, $r_k/2$)", listed(qs, 2)],
            ["Trust-effect SD $\\sigma_{0k}$", "HalfNormal($r_k$)", listed(qs)],
            ["Peer scale variation $s_k$", "HalfNormal", sv],
            ["Peer-group deviation $\\varepsilon_{gk}$", "Normal(0, 1), summing to zero over peer groups", ""],
            ["Correlation $R$", md(corr), ""],
            ["Cost peer mean $\\mu^c_{gj}$", "Normal(national centre, $r_j$)", listed(cs)],
            ["Cost need effect $\\beta^c_{jp}$", "Normal(0, $r_j/2$)", listed(cs, 2)],
            ["Cost SD $\\sigma^c_{0j}$", "HalfNormal($r_j$)", listed(cs)],
            ["Cost peer scale variation", "HalfNormal", sv],
            ["Student-$t$ degrees of freedom $\\nu$",
             f"Gamma({num(pr['cost_nu_shape'], 1)}, {num(pr['cost_nu_rate'], 2)})", ""]]
    return md_table(["Parameter", "Prior", "Scale"], rows, [30, 34, 36], "lll")


def paper_tables(res: Results) -> dict[str, str]:
    """Markdown of the generated tables the paper includes (their length depends on the results)."""
    from analysis.report.moves import paper_trend

    out: dict[str, str] = {"trend": paper_trend(res.trend)}
    # data sources: one row per (source, period) of the columns the model uses
    d = res.dictionary
    used = {"shmi_observed_deaths", "shmi_expected_deaths", "shmi_spells", "rtt_total_waiting", "rtt_waiting_under_18w",
            "ae_attendances", "ae_over_4h", "fft_responses", "fft_positive", "org_code", "size_class", "region",
            *[f"ncc_{a}_cost_{j}_gbp_m" for a in ("actual", "expected") for j in ("total", "apc", "op", "ae")],
            *list(config_value(res, "need", "covariates", default=[])), "catchment_population"}
    if d is not None and {"name", "source", "period"} <= set(d.columns):
        dd = d[d.name.isin(used)].copy()
        rows = []
        for (src, per), g in dd.groupby(["source", "period"], sort=False):
            rows.append([md(src), md(", ".join(g.name)), md(per)])
        out["sources"] = md_table(["Source (as recorded in the panel dictionary)", "Panel columns used", "Period"],
                                  rows, [45, 35, 20], "lll")
    else:
        out["sources"] = "*The panel dictionary (`panel/panel_dictionary.csv`) is missing from these results.*\n"
    # peer groups (medians: analysis.summaries.derived.need_context)
    info = res.tables["value_index"]
    info = info[info.measure == "value_index"].set_index("org_code")
    nc = res.tables["need_context"]
    nc = nc[nc.scope == "peer group"]
    rows = []
    for g, idx in info.groupby("peer_group").groups.items():
        sub = nc[nc.peer_group == g]
        med = dict(zip(sub.column, sub.value))
        m = lambda c, s=1.0: med[c] * s if c in med else float("nan")
        rows.append([md(g), str(len(idx)), num(m("imd_score"), 1),
                     num(m("share_aged_75_plus", 100), 1) + "%", num(m("health_index_score"), 1),
                     money(m("ncc_expected_cost_total_gbp_m"), 0)])
    out["peer_groups"] = md_table(["Peer group", "Trusts", "IMD score", "Aged 75+", "Health Index",
                                   "Expected cost"], rows, [24, 12, 14, 14, 16, 20])
    out["priors"] = priors_table(res.config)
    # trapped value and avoidable deaths: national totals, null references, benchmarks (analysis.report.trapped)
    out["trapped_value"] = national_table(res.tables)
    # diagnostics
    g = res.gate
    ok = lambda c: "yes" if c else "**no**"
    rows = [
        ["Largest R-hat (rank-normalised split)", num(g.get("max_rhat"), 4), f"≤ {num(config_value(res, 'gate', 'rhat_max'), 2)}",
         ok(known(g.get("max_rhat")) and g["max_rhat"] <= float(config_value(res, "gate", "rhat_max", default=1.01)))],
        ["Smallest bulk effective sample size", count(g.get("min_ess_bulk")), f"≥ {count(config_value(res, 'gate', 'ess_bulk_min'))}",
         ok(known(g.get("min_ess_bulk")) and g["min_ess_bulk"] >= float(config_value(res, "gate", "ess_bulk_min", default=400)))],
        ["Smallest tail effective sample size", count(g.get("min_ess_tail")), f"≥ {count(config_value(res, 'gate', 'ess_tail_min'))}",
         ok(known(g.get("min_ess_tail")) and g["min_ess_tail"] >= float(config_value(res, "gate", "ess_tail_min", default=400)))],
        ["Divergent transitions", count(g.get("divergences")), f"≤ {count(config_value(res, 'gate', 'max_divergences'))}",
         ok(known(g.get("divergences")) and g["divergences"] <= float(config_value(res, "gate", "max_divergences", default=0)))],
    ]
    ss = res.sample_stats
    if "divergences_by_chain" in ss:
        rows.append(["Divergences by chain", md(", ".join(map(str, ss["divergences_by_chain"]))), "", ""])
    if "tree_depth" in ss:
        rows.append(["Mean tree depth", num(ss["tree_depth"], 1), "", ""])
    if "step_size" in ss:
        rows.append(["Mean step size", num(ss["step_size"], 3), "", ""])
    out["diagnostics"] = md_table(["Check", "Value", "Threshold", "Met"], rows, [46, 18, 18, 18], "lrrr")
    for kind in MANIFESTS:
        out[kind] = manifest_markdown(res, kind)
    return out


MANIFESTS = {  # kind (= directory in the results): what it is, and the command that writes it
    "validation": {"command": "svi validate", "absent": (
        "**Validation has not been run for these results.** There is no validation manifest "
        "(`validation/manifest.json`) beside them, so nothing in this paper has been checked for this run: "
        "simulation-based calibration, posterior predictive checks, LOO cross-validation, agreement with NHS "
        "Digital's SHMI banding and with a frequentist GLMM, and prior sensitivity are all missing. Run "
        "`svi validate` (with `--out` set to this results directory), then `svi report`, to include them."),
        "short_absent": "Validation has not been run for these results (`svi validate`).",
        "intro": ("Every check below, its numbers, tables and figures, is written by `svi validate` into the results' "
                  "`validation/` directory and rendered here in its order; a check with a stated criterion is "
                  "marked PASS or FAIL."),
        "noun": "check"},
    "claims": {"command": "svi claims", "absent": (
        "**Public claims have not been re-tested for these results.** There is no claims manifest "
        "(`claims/manifest.json`) beside them. Run `svi claims` (with `--out` set to this results directory), "
        "then `svi report`, to include the re-tests."),
        "short_absent": "Public claims have not been re-tested for these results (`svi claims`).",
        "intro": ("Each claim below, the test and its outcome are written by `svi claims` into the results' "
                  "`claims/` directory and rendered here in its order; a re-test with a stated criterion is marked "
                  "PASS or FAIL."),
        "noun": "claim"},
}


TABLE_MAX_ROWS = 25
TABLE_MAX_COLS = 8
_PASS_COLOUR = {True: ("PASS", "#007F3B"), False: ("FAIL", "#D5281B")}


def manifest_file(directory: Path, name) -> Path | None:
    """A file named by a manifest item: a relative path inside the manifest's directory that exists, else None."""
    if not isinstance(name, str) or not name.strip() or Path(name).is_absolute():
        return None
    p = directory / name
    try:
        p.resolve().relative_to(directory.resolve())
    except ValueError:
        return None
    return p if p.is_file() else None


def manifest_items(doc: dict) -> list[dict]:
    return [it for it in doc.get("items", []) if isinstance(it, dict)]


def _count_text(items: list[dict], noun: str) -> str:
    """``7 checks (5 passed, **1 failed**, 1 without a pass/fail verdict)``."""
    p = sum(it.get("passed") is True for it in items)
    f = sum(it.get("passed") is False for it in items)
    n = len(items) - p - f
    verdicts = [f"{p} passed" if p else "", f"**{f} failed**" if f else "",
                f"{n} without a pass/fail verdict" if n else ""]
    return (f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"
            + (" (" + ", ".join(x for x in verdicts if x) + ")" if items else ""))


def _created(doc: dict) -> str:
    return md(str(doc.get("created", ""))[:16].replace("T", " ")) or "an unrecorded date"


def manifest_status(res: Results, kind: str) -> str:
    """One sentence for the paper's status paragraph: whether the step ran, and how many of its checks passed."""
    spec = MANIFESTS[kind]
    directory, doc = res.manifests.get(kind, (None, None))
    if doc is None:
        return spec["short_absent"]
    what = "Validation" if kind == "validation" else "Public claims re-tested"
    return (f"{what} ({code_span(doc.get('producer') or spec['command'])}, {_created(doc)}): "
            f"{_count_text(manifest_items(doc), spec['noun'])}.")


def _badge(passed: bool) -> str:
    """A coloured PASS / FAIL marker, as raw Typst for the PDF and raw HTML for the web page (both renderers)."""
    label, colour = _PASS_COLOUR[passed]
    return (f'`#box(fill: rgb("{colour}"), inset: (x: 5pt, y: 2.5pt), radius: 2pt, text(fill: white, weight: '
            f'"bold")[{label}])`{{=typst}}`<span style="background:{colour};color:#fff;font-weight:bold;'
            f'padding:0.1em 0.45em;border-radius:3px">{label}</span>`{{=html}}')


def _csv_markdown(path: Path, rel: str) -> str:
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # an unreadable table is shown as such, not silently dropped
        return f"*The table {code_span(rel)} could not be read ({md(type(exc).__name__)}).*\n"
    n_rows, n_cols = df.shape
    shown = df.iloc[:TABLE_MAX_ROWS, :TABLE_MAX_COLS]
    cols = list(shown.columns)
    rows = [[table_cell(x) for x in r] for r in shown.itertuples(index=False)]
    header = [md(c) for c in cols]
    align = "".join("r" if pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
                    else "l" for c in cols)
    widths = [min(30, max(5, len(str(c)), *(len(r[i]) for r in rows))) for i, c in enumerate(cols)]
    table = md_table(header, rows, widths, align)
    if len(cols) > 5:  # a wide table: a smaller type in the PDF keeps its columns readable
        table = f"```{{=typst}}\n#block[\n#set text(size: 0.82em)\n```\n\n{table}\n```{{=typst}}\n]\n```\n"
    cut = []
    if n_rows > TABLE_MAX_ROWS:
        cut.append(f"first {TABLE_MAX_ROWS} of {n_rows} rows")
    if n_cols > TABLE_MAX_COLS:
        cut.append(f"first {TABLE_MAX_COLS} of {n_cols} columns")
    if cut:
        table += f"\n*Shown: {' and '.join(cut)}; full table in {code_span(rel)}.*\n"
    return table


def _image_target(rel: str) -> str:
    return f"<{rel}>" if re.search(r"[\s()<>]", rel) else rel


def _result(item: dict) -> str:
    """Overview cell of a manifest item: PASS/FAIL for a check; a claim's own verdict (and evidence) when it has one."""
    if item.get("passed") is False:
        return "**FAIL**"
    extra = item.get("extra") or {}
    if isinstance(extra, dict) and extra.get("verdict"):
        ev = extra.get("evidence")
        return md(str(extra["verdict"])) + (f" ({md(str(ev))})" if ev and ev != extra["verdict"] else "")
    return "**PASS**" if item.get("passed") is True else "no verdict"


def manifest_markdown(res: Results, kind: str) -> str:
    """The paper's section for one manifest: every item in order, as a subsection with its PASS / FAIL marker, its
    text, its table (cut to a readable size) and its figure.  Figures are staged into ``<build>/<kind>/`` by
    :func:`_stage_paper`; image paths are relative to the paper (so Quarto's include finds them too)."""
    spec = MANIFESTS[kind]
    directory, doc = res.manifests.get(kind, (ResultsDir(res.out) / kind, None))
    if doc is None:
        extra = ""
        if directory is not None and directory.is_dir() and any(directory.iterdir()):
            extra = (f" (The `{kind}/` directory exists but holds no `manifest.json`: the step did not finish, or was "
                     "run by a version that wrote no manifest.)")
        return spec["absent"] + extra + "\n"
    items = manifest_items(doc)
    model = doc.get("model_id")
    ours = res.attrs.get("svi_model_id") or res.gate.get("model_id")
    parts = [spec["intro"] + "\n",
             f"*Written by {code_span(doc.get('producer') or spec['command'])} on {_created(doc)}"
             + (f" for model {md(model)}" + (f" (this paper's results are from model {md(ours)})"
                                             if ours and str(ours) != str(model) else "") if model else "")
             + f"; {_count_text(items, spec['noun'])}. Full tables and figures are in the results' `{kind}/` "
             "directory.*\n"]
    if len(items) > 1:
        rows = [[md(it.get("title") or it.get("id") or "untitled"), _result(it)] for it in items]
        parts.append(md_table([spec["noun"].capitalize(), "Result"], rows, [80, 20], "ll"))
    for it in items:
        title = md(it.get("title") or it.get("id") or "untitled")
        block = [f"## {title}\n"]
        if isinstance(it.get("passed"), bool):
            block.append(_badge(it["passed"]) + "\n")
        text = str(it.get("text") or "").strip()
        if text:
            text = text.replace("{{<", "{{\\<")  # producer text is Markdown, never a shortcode
            text = re.sub(r"(?m)^(#{1,4})(?=\s)", r"##\1", text)  # its headings nest under the item's
            block.append(text + "\n")
        for field_name in ("table", "figure"):
            name = it.get(field_name)
            if not name:
                continue
            path = manifest_file(directory, name)
            rel = f"{kind}/{name}"
            if path is None:
                block.append(f"*The {field_name} {code_span(rel)} named by the manifest is missing.*\n")
            elif field_name == "table":
                block.append(_csv_markdown(path, rel))
            else:
                caption = " ".join(str(it.get("caption") or it.get("title") or "").split())
                block.append(f"![{caption}]({_image_target(rel)}){{width=85%}}\n")
        parts.append("\n".join(block))
    return "\n".join(parts)
