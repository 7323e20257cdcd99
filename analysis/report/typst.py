"""The in-process engine: pandoc (``pypandoc``) turns the Markdown into Typst and self-contained HTML, and the
``typst`` package compiles the PDF.  The board documents of all trusts go through two pandoc calls in all
(:func:`board_typst`)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from analysis import io
from analysis.errors import SVIError
from analysis.report.quarto import SHORTCODE, load_metadata, read_qmd, resolved_markdown


def _pandoc():
    try:
        import pypandoc
    except ImportError as exc:  # pragma: no cover - install extra [report]
        raise SVIError("pypandoc is not installed: pip install -e '.[report]' (pypandoc-binary, typst)") from exc
    return pypandoc


def _font_paths() -> list[str]:
    import matplotlib as mpl

    return [str(Path(mpl.get_data_path()) / "fonts" / "ttf")]


def md_to_typst(markdown: str, identifiers: bool = True) -> str:
    fmt = "markdown" if identifiers else "markdown-auto_identifiers"
    return _pandoc().convert_text(markdown, "typst", format=fmt, extra_args=["--wrap=none", "--columns=72"])


def _tstr(s: str) -> str:
    """A Typst string literal."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _length(x, default: str) -> str:
    if x is None:
        return default
    s = str(x).strip()
    return s if re.fullmatch(r"[0-9.]+(cm|mm|in|pt|em|%)", s) else default


def typst_preamble(front: dict, meta: dict, *, unpublishable: bool = False, title_block: bool = True) -> str:
    """Page, text and title set-up from the front matter's ``format: typst:`` options (a pandoc template's job)."""
    opts = (front.get("format") or {}).get("typst") or {}
    paper = str(opts.get("papersize", "a4"))
    margin = opts.get("margin") or {}
    mx = _length(margin.get("x") if isinstance(margin, dict) else margin, "2cm")
    my = _length(margin.get("y") if isinstance(margin, dict) else margin, "2cm")
    size = _length(opts.get("fontsize"), "10pt")
    font = str(opts.get("mainfont", "DejaVu Sans"))
    numbering = opts.get("section-numbering")
    lines = [
        f"#set document(title: {_tstr(meta.get('title', ''))})" if meta.get("title") else "",
        f"#set page(paper: {_tstr(paper)}, margin: (x: {mx}, y: {my}), numbering: \"1\")",
        f"#set text(font: ({_tstr(font)},), size: {size}, lang: \"en\", region: \"GB\")",
        "#set par(justify: false, leading: 0.62em, spacing: 0.9em)",
        f"#set heading(numbering: {_tstr(numbering)})" if numbering else "",
        "#show heading: set block(above: 1.3em, below: 0.7em)",
        "#show heading.where(level: 1): set text(size: 1.35em)",
        "#show heading.where(level: 2): set text(size: 1.12em)",
        "#set table(inset: (x: 4pt, y: 3.5pt), stroke: none)",
        "#show table.cell.where(y: 0): set text(weight: \"bold\")",
        "#show figure.where(kind: table): set figure.caption(position: top)",
        "#show table: it => block(breakable: false, it)",
        "#show figure.caption: set text(size: 0.9em)",
        "#show link: set text(fill: rgb(\"#005EB8\"))",
        "#let horizontalrule = line(length: 100%, stroke: 0.5pt + luma(160))",
        "#show terms.item: it => block(breakable: false)[#text(weight: \"bold\")[#it.term] #block(inset: (left: 1.5em, top: -0.4em))[#it.description]]",
    ]
    if unpublishable:
        lines.append('#set page(background: rotate(-40deg, text(64pt, weight: "bold", fill: rgb(213, 40, 27, 45))'
                     '[NOT PUBLISHABLE]), header: align(center, text(9pt, weight: "bold", fill: rgb("#D5281B"))'
                     '[Results failed the convergence gate: not publishable, for diagnosis only]))')
    if title_block and meta.get("title"):
        lines.append(f"#block(below: 1.2em)[#text(size: 1.9em, weight: \"bold\", {_tstr(meta['title'])})"
                     + (f"#linebreak()#text(size: 1.25em, {_tstr(meta['subtitle'])})" if meta.get("subtitle") else "")
                     + "]")
        if unpublishable:
            lines.append('#block(fill: rgb("#D5281B"), inset: 10pt, radius: 3pt, width: 100%)[#text(fill: white, '
                         'weight: "bold", size: 1.1em)[RESULTS FAILED THE CONVERGENCE GATE. NOT PUBLISHABLE: '
                         'every number below is for diagnosis only.]]')
        if opts.get("toc"):
            lines.append("#outline(depth: 2, indent: 1.2em)")
    return "\n".join(x for x in lines if x) + "\n\n"


_COMPILER: dict = {}


def font_dir() -> str:
    """A directory holding only the DejaVu Sans faces (from matplotlib), so Typst does not scan 40 other fonts."""
    d = Path(tempfile.gettempdir()) / f"svi-fonts-{os.getuid() if hasattr(os, 'getuid') else 0}"
    src = Path(_font_paths()[0])
    faces = sorted(src.glob("DejaVuSans*.ttf"))
    if not faces:
        return str(src)
    if not all((d / f.name).exists() for f in faces):
        d.mkdir(parents=True, exist_ok=True)
        for f in faces:
            with io.atomic_path(d / f.name) as tmp:
                shutil.copyfile(f, tmp)
    return str(d)


def compile_typst(typ: Path, root: Path) -> bytes:
    """Compile a Typst file to PDF bytes; one compiler per process keeps the fonts loaded between documents."""
    import typst

    comp = _COMPILER.get(os.getpid())
    if comp is None:
        _COMPILER.clear()  # a compiler inherited through fork is never reused
        comp = _COMPILER[os.getpid()] = typst.Compiler(root=str(root), font_paths=[font_dir()],
                                                        ignore_system_fonts=True)
    try:
        return comp.compile(input=str(typ), root=str(root))
    except Exception as exc:
        raise SVIError(f"Typst could not compile {typ.name}: {exc}") from exc


HTML_CSS = """<style>
body { max-width: 52em; font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; font-size: 15px; color: #212B32; }
h1, h2, h3 { color: #003087; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.92em; }
th { border-bottom: 1px solid #768692; text-align: left; }
td, th { padding: 0.25em 0.6em; vertical-align: top; }
tbody tr:nth-child(odd) { background: #F0F4F5; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #4C6272; }
.svi-fail { background: #D5281B; color: white; font-weight: bold; padding: 0.8em 1em; border-radius: 4px; }
</style>"""


def md_to_html(markdown: str, meta: dict, resource_dir: Path, unpublishable: bool) -> str:
    args = ["--standalone", "--embed-resources", "--mathml", "--wrap=none", f"--resource-path={resource_dir}",
            "--metadata", f"title={meta.get('title', 'SVI')}", "--toc", "--toc-depth=2", "--section-divs",
            "--variable", "lang=en-GB", "--variable", f"header-includes={HTML_CSS}"]
    if meta.get("subtitle"):
        args += ["--metadata", f"subtitle={meta['subtitle']}"]
    if unpublishable:
        args += ["--variable", "include-before=<p class=\"svi-fail\">RESULTS FAILED THE CONVERGENCE GATE. NOT "
                 "PUBLISHABLE: every number in this paper is for diagnosis only.</p>"]
    return _pandoc().convert_text(markdown, "html5", format="markdown", extra_args=args)


_TOKEN = "SVIQ{:05d}Z"
_VALSEP = "SVIVALUESEPARATORZ"


def board_typst(staged: list[dict[str, Path]]) -> None:
    """Write the Typst of every staged board document (``slide.typ``, ``appendix.typ``, ``handout.typ`` beside each
    trust's sources) with two pandoc calls in all.

    Resolving the shortcodes first and converting each trust's Markdown costs pandoc runs per trust (and pandoc's
    Markdown reader slows down quadratically with the number of tables in one document, so documents cannot simply
    be concatenated).  Instead the three templates are converted once with every ``{{< meta KEY >}}`` replaced by an
    inert token, every distinct Markdown value of every trust is converted once (as paragraphs of one document), and
    each trust's Typst is the template's with the tokens replaced by its values: the same result as resolving first.
    """
    kinds = list(staged[0])
    fronts, bodies = {}, {}
    for kind in kinds:
        fronts[kind], bodies[kind] = read_qmd(staged[0][kind])
    general = [k for k in kinds if "{{< include" in bodies[k]]
    for kind in general:  # general case (not used by the board documents): resolve and convert trust by trust
        for docs in staged:
            f, meta, md_body = resolved_markdown(docs[kind])
            io.write_text(docs[kind].with_suffix(".typ"), typst_preamble(f, meta, title_block=False) +
                          md_to_typst(md_body, identifiers=False))
    kinds = [k for k in kinds if k not in general]
    if not kinds:
        return
    keys: dict[str, str] = {}

    def tok(m: re.Match) -> str:
        if m.group(1) != "meta":
            raise SVIError(f"board documents: shortcode {m.group(1)!r} is not supported (use meta)")
        key = m.group(2).strip().strip("\"'")
        return keys.setdefault(key, _TOKEN.format(len(keys)))

    converted = md_to_typst(f"\n\n{_VALSEP}\n\n".join(SHORTCODE.sub(tok, bodies[k]) for k in kinds),
                            identifiers=False).split(_VALSEP)
    if len(converted) != len(kinds):
        raise SVIError("internal error: a document separator was not preserved by pandoc")
    templates = dict(zip(kinds, converted))
    missing = [k for k, t in keys.items() if not any(t in x for x in converted)]
    if missing:
        raise SVIError(f"internal error: pandoc altered the placeholders of {', '.join(missing[:5])}")
    metas = []
    values: dict[str, None] = {}
    for docs in staged:
        q = docs[kinds[0]]  # one _data.yml per trust, shared by its documents
        meta = load_metadata(q, read_qmd(q)[0])
        row = {}
        for key in keys:
            val = meta
            for part in key.split("."):
                if not isinstance(val, dict) or part not in val:
                    raise SVIError(f"{q.parent.name}: {{{{< meta {key} >}}}} has no value in the generated data")
                val = val[part]
            row[key] = str(val)
            values.setdefault(row[key])
        metas.append((meta, row))
    distinct = list(values)
    conv = md_to_typst(f"\n\n{_VALSEP}\n\n".join(distinct), identifiers=False).split(_VALSEP)
    if len(conv) != len(distinct):
        raise SVIError("internal error: a value separator was not preserved by pandoc")
    typ_of = {v: c.strip() for v, c in zip(distinct, conv)}
    pattern = re.compile("|".join(re.escape(t) for t in sorted(keys.values(), reverse=True)))
    key_of = {t: k for k, t in keys.items()}
    for docs, (meta, row) in zip(staged, metas):
        for kind in kinds:
            text = pattern.sub(lambda m: typ_of[row[key_of[m.group(0)]]], templates[kind])
            io.write_text(docs[kind].with_suffix(".typ"),
                          typst_preamble(fronts[kind], meta, title_block=False) + text.strip() + "\n")
