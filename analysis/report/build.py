"""Building the documents: staging each document's sources, values, tables and figures in a build directory,
rendering them with the engine at hand (:mod:`~analysis.report.quarto` or :mod:`~analysis.report.typst`), and the
worker processes that draw and typeset the board documents of many trusts in parallel."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

from analysis import io, resources
from analysis.errors import SVIError
from analysis.report.data import Results, UnpublishableError, load_results
from analysis.report.quarto import inline_for_quarto, quarto_path, quarto_render, resolved_markdown
from analysis.report.sections import manifest_file, manifest_items, paper_tables
from analysis.report.typst import board_typst, compile_typst, font_dir, md_to_html, md_to_typst, typst_preamble
from analysis.report.values import (INDICATOR_ROWS_MARKER, TrustIndex, indicator_table_rows, paper_values,
                                    trust_values)
from analysis.results import ResultsDir


PAPERS = resources.papers_dir()  # papers/ in a checkout, the copy shipped in an installed wheel
PAPER_QMD = PAPERS / "methodology.qmd"
APPENDIX_QMD = PAPERS / "appendix.qmd"
SLIDE_QMD = PAPERS / "slide.qmd"
HANDOUT_QMD = PAPERS / "handout.qmd"
BOARD_DOCS = (("slide", SLIDE_QMD), ("appendix", APPENDIX_QMD), ("handout", HANDOUT_QMD))  # in reading order


def _write_yaml(path: Path, data: dict) -> None:
    import yaml

    io.write_text(path, yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True,
                                  sort_keys=False, width=10_000))


def _stage_paper(res: Results, build: Path, quarto: bool) -> Path:
    from analysis.figures import paper_figures

    build.mkdir(parents=True, exist_ok=True)
    qmd = build / PAPER_QMD.name
    shutil.copyfile(PAPER_QMD, qmd)
    data = paper_values(res)
    if quarto:
        data["font-paths"] = [font_dir()]
        inline_for_quarto(qmd, data)
    _write_yaml(build / "_data.yml", data)
    for name, text in paper_tables(res).items():
        io.write_text(build / "_generated" / f"{name}.md", text)
    paper_figures(res.figdata, build / "figures")
    for kind, (directory, doc) in res.manifests.items():  # the figures the validation and claims sections show
        for it in manifest_items(doc or {}):
            src = manifest_file(directory, it.get("figure"))
            if src is not None:
                dest = build / kind / it["figure"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
    return qmd


def _stage_board(res: Results, code: str, build: Path, ix: TrustIndex, quarto: bool,
                 sources: dict[str, str] | None = None) -> dict[str, Path]:
    """Copy the slide, appendix and handout sources into ``build/<CODE>/`` with their shared ``_data.yml``."""
    d = build / code
    d.mkdir(parents=True, exist_ok=True)
    data = trust_values(res, code, ix)
    if quarto:
        data["font-paths"] = [font_dir()]
    staged = {}
    for kind, src in BOARD_DOCS:
        text = sources[kind] if sources else src.read_text(encoding="utf-8")
        # the document's parameter: this trust (the values themselves come from _data.yml)
        text = re.sub(r"(?m)^(\s+trust:\s*).*$", lambda m: m.group(1) + json.dumps(code), text, count=1)
        text = INDICATOR_ROWS_MARKER.sub(lambda m: indicator_table_rows(ix.indicators), text)
        qmd = staged[kind] = d / src.name
        io.write_text(qmd, text)
        if quarto:
            inline_for_quarto(qmd, data)
    _write_yaml(d / "_data.yml", data)
    return staged


def _readable(path: Path) -> Path:
    """Reports are for sharing: rw-r--r-- (less the umask), not the 0600 of a temporary file."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o644 & ~mask)
    return path


def _copy_atomic(src: Path, dest: Path) -> Path:
    with io.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        _readable(tmp)
    return dest


def _write_bytes(dest: Path, data: bytes) -> Path:
    with io.atomic_path(dest) as tmp:
        tmp.write_bytes(data)
        _readable(tmp)
    return dest


def render_paper(res: Results, reports: ResultsDir, build: Path, echo=print) -> list[Path]:
    quarto = quarto_path() is not None
    qmd = _stage_paper(res, build / "paper", quarto)
    unpub = res.unpublishable is not None or not res.gate.get("passed", False)
    out = []
    if quarto:
        out.append(_copy_atomic(quarto_render(qmd, "html"), reports.paper_html))
        out.append(_copy_atomic(quarto_render(qmd, "typst"), reports.paper_pdf))
        return out
    front, meta, markdown = resolved_markdown(qmd)
    html = md_to_html(markdown, meta, qmd.parent, unpub)
    out.append(_write_bytes(reports.paper_html, html.encode("utf-8")))
    typ = qmd.with_suffix(".typ")
    typ.write_text(typst_preamble(front, meta, unpublishable=unpub) + md_to_typst(markdown), encoding="utf-8")
    out.append(_write_bytes(reports.paper_pdf, compile_typst(typ, qmd.parent)))
    return out


_STATE: dict = {}


def _typeset(code: str) -> list[str]:
    """Typeset one trust's staged board documents (figures drawn) into reports/appendices; returns the PDF paths."""
    st = _STATE
    d = st["build"] / code
    out = []
    for kind, src in BOARD_DOCS:
        dest = st["reports"].board_pdf(code, kind)
        if st["quarto"]:
            _copy_atomic(quarto_render(d / src.name, "typst"), dest)
        else:
            _write_bytes(dest, compile_typst((d / src.name).with_suffix(".typ"), d))
        out.append(str(dest))
    return out


def _draw(code: str) -> None:
    _STATE["figures"].write(code, _STATE["build"] / code / "figures")


def _worker(codes: list[str], queue, ready, state: dict) -> None:
    """Draw the figures of ``codes``, typesetting each appendix as soon as the parent has written the sources.

    Runs in a *spawned* process (a fork would inherit the parent's threads, e.g. Typst's or Arrow's pools, and can
    deadlock): ``state`` carries the figure data; each worker draws the backgrounds of its own peer groups.
    """
    import traceback

    from analysis.figures import AppendixFigures

    try:
        _STATE.update(state, figures=AppendixFigures(state["figdata"]))
        pending: list[str] = []
        for code in codes:
            _draw(code)
            pending.append(code)
            while pending and ready.is_set():
                c = pending.pop(0)
                queue.put(("pdf", c, _typeset(c)))
        ready.wait()
        for c in pending:
            queue.put(("pdf", c, _typeset(c)))
        queue.put(("done", None, None))
    except BaseException as exc:  # reported to the parent, which stops the other worker
        msg = str(exc) if isinstance(exc, SVIError) else traceback.format_exc()
        queue.put(("error", type(exc).__name__, msg))


def _partition(fd, codes: list[str], n: int) -> list[list[str]]:
    """Split trusts between workers by whole peer groups (so each draws only its groups' backgrounds), balanced."""
    groups: dict = {}
    for c in codes:
        groups.setdefault(fd.group_of(c), []).append(c)
    bins: list[list[str]] = [[] for _ in range(n)]
    for g in sorted(groups, key=lambda g: -len(groups[g])):
        min(bins, key=len).extend(groups[g])
    return [b for b in bins if b]


def render_appendices(res: Results, codes: list[str], reports: ResultsDir, build: Path, progress: bool = False,
                      workers: int | None = None, echo=print) -> list[Path]:
    """Stage, draw and typeset the board documents (slide, appendix, handout) of ``codes``; returns their paths.

    With two or more workers (spawned processes, each given whole peer groups), the workers start drawing figures
    at once while this process writes the data files and converts the Markdown (two pandoc runs in all); each
    worker then typesets its trusts as soon as the sources are ready.
    """
    import multiprocessing as mp

    from analysis.figures import AppendixFigures

    quarto = quarto_path() is not None
    build = build / "appendix"
    fd = res.figdata
    _STATE.update(build=build, reports=reports, figures=AppendixFigures(fd), quarto=quarto)
    reports.appendices_dir.mkdir(parents=True, exist_ok=True)
    for c in codes:  # the single combined PDF of earlier versions would be stale beside the new three
        reports.legacy_appendix(c).unlink(missing_ok=True)
    workers = min(workers or min(2, os.cpu_count() or 1), len(codes))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(codes), desc="appendices", unit="trust")

    def stage() -> None:
        ix = TrustIndex(res)
        sources = {kind: src.read_text(encoding="utf-8") for kind, src in BOARD_DOCS}
        staged = [_stage_board(res, c, build, ix, quarto, sources) for c in codes]
        if not quarto:
            board_typst(staged)

    out: list[Path] = []
    procs = []
    try:
        if workers > 1:
            ctx = mp.get_context("spawn")
            queue, ready = ctx.Queue(), ctx.Event()
            state = {"build": build, "reports": reports, "quarto": quarto, "figdata": fd}
            procs = [ctx.Process(target=_worker, args=(part, queue, ready, state), daemon=True)
                     for part in _partition(fd, codes, workers)]
            for p in procs:
                p.start()
            stage()
            ready.set()
            running = len(procs)
            while running:
                try:
                    kind, a, b = queue.get(timeout=5)
                except Exception:  # queue.Empty: make sure the workers are still alive
                    dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                    if dead:
                        raise SVIError(f"an appendix worker died (exit code {dead[0].exitcode})")
                    continue
                if kind == "pdf":
                    out.extend(Path(x) for x in b)
                    if bar is not None:
                        bar.update()
                elif kind == "done":
                    running -= 1
                else:
                    raise SVIError(f"rendering the appendices failed ({a}): {b}")
        else:
            stage()
            for c in codes:
                _draw(c)
                out.extend(Path(x) for x in _typeset(c))
                if bar is not None:
                    bar.update()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
        if bar is not None:
            bar.close()
        _STATE.clear()
    return sorted(out)


def report(out: str | Path = "results", trusts: Iterable[str] | None = None, all_trusts: bool = False,
           paper: bool = True, progress: bool = False, workers: int | None = None, echo=print) -> dict:
    """Render the paper and the requested appendices from the results in ``out``; returns the written paths."""
    t0 = time.perf_counter()
    res = load_results(out)
    codes: list[str] = []
    if all_trusts:
        codes = res.codes
    elif trusts:
        known = {c.upper(): c for c in res.codes}
        for t in trusts:
            c = known.get(str(t).strip().upper())
            if c is None:
                import difflib

                near = difflib.get_close_matches(str(t).upper(), list(known), n=3)
                raise SVIError(f"trust code {t!r} is not in the results in {res.out}"
                               + (f" (did you mean {', '.join(near)}?)" if near else ""))
            if c not in codes:
                codes.append(c)
    if codes and res.unpublishable is not None:
        raise UnpublishableError(
            f"the results in {res.out} failed the convergence gate ({ResultsDir(res.out).unpublishable}), so trust "
            f"appendices will not be rendered from them.\n  {res.unpublishable.splitlines()[0]}\n  Refit until the gate passes "
            f"(see {ResultsDir(res.out).gate}); `svi report` without --trust/--all renders the paper, "
            "marked not publishable, for diagnosis.")
    if not paper and not codes:
        raise SVIError("nothing to render: give --trust CODE or --all, or drop --no-paper")
    reports = ResultsDir(res.out)
    written: dict = {"paper": [], "appendices": [], "trusts": codes,
                     "engine": "quarto" if quarto_path() else "pandoc+typst"}
    shm = Path("/dev/shm")  # many small files, written once and read once: keep them in memory where possible
    tmp_base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="svi-report-", dir=tmp_base) as tmp:
        build = Path(tmp)
        if paper:
            t = time.perf_counter()
            written["paper"] = render_paper(res, reports, build, echo)
            written["paper_seconds"] = time.perf_counter() - t
        if codes:
            t = time.perf_counter()
            written["appendices"] = render_appendices(res, codes, reports, build, progress=progress, workers=workers,
                                                      echo=echo)
            written["appendix_seconds"] = time.perf_counter() - t
    written["seconds"] = time.perf_counter() - t0
    if res.unpublishable is not None and paper:
        echo("!! results failed the convergence gate: the paper is marked NOT PUBLISHABLE")
    return written
