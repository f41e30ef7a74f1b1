"""`xiaoshen` command line: a thin shell over ingest, index and retrieval. Errors become one line and an
exit code; models load once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xiaoshen.audit import record_answer, record_batch, record_ingest, record_note
from xiaoshen.errors import XiaoshenError
from xiaoshen.safetext import display_name
from xiaoshen.settings import PROJECT_ROOT, Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="小审 Xiaoshen — credit-policy assistant.")
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index directory (embedded Chroma store).")]
LanguageOpt = Annotated[str | None, typer.Option(
    "--language", help="Write the note(s) in en or zh instead of each application's own language.")]
RoleOpt = Annotated[list[str] | None, typer.Option(
    "--role", help="Read as a user with this role (repeatable): documents labelled for other roles are "
    "never retrieved. Without it the CLI reads everything, as whoever holds the index files can.")]


def _settings(index: Path | None) -> Settings:
    return load_settings(index_dir=index.resolve() if index else None)


def _open_index(settings: Settings, note: bool = True):  # type: ignore[no-untyped-def]
    from xiaoshen.index import ClauseIndex

    clause_index = ClauseIndex(settings)
    if note and clause_index.folder is not None and clause_index.folder.read_only_source is not None:
        err.print(f"note: the index {clause_index.folder.read_only_source} is read-only; reading a private copy "
                  f"in {clause_index.folder.path.parent}", markup=False, highlight=False)
    return clause_index


def _print_failure(source: str, reason: str) -> None:
    # The reason is file or library text: print it literally, a "[Errno 2]" is not Rich markup.
    err.print("[red]failed[/red]  ", end="")
    err.print(f"{display_name(source)}: {reason}", markup=False)


def _fail(exc: XiaoshenError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(exc.exit_code)


def _audit(settings: Settings):  # type: ignore[no-untyped-def]
    from xiaoshen.audit import open_audit_log

    return open_audit_log(settings.access.audit_log, settings.audit)


def _cli_user() -> str:
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "cli:unknown"


def _roles(roles: list[str] | None) -> list[str] | None:
    from xiaoshen.access import ROLES

    unknown = [r for r in roles or [] if r not in ROLES]
    if unknown:
        raise XiaoshenError(f"Unknown role(s) {', '.join(unknown)}", "roles are: " + ", ".join(ROLES))
    return roles or None


def _reader_filter(filters: list[str] | None, roles: list[str] | None):  # type: ignore[no-untyped-def]
    from xiaoshen.retrieve import ClauseFilter

    return ClauseFilter.parse(filters or []).for_roles(_roles(roles))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or folders (PDF, DOCX, MD, HTML, TXT; "
                                                  "scans as PDF, PNG, JPEG or TIFF).")],
    index: IndexOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files are gone.")] = False,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Do not OCR scanned pages or image files (each "
                                         "skipped page is named in a warning).")] = False,
    lock_timeout: Annotated[float | None, typer.Option("--lock-timeout", min=0, help="Seconds to wait for "
                            "another ingest of the same index (default: ingest.lock_timeout_s, 3600).")] = None,
) -> None:
    """Ingest policy files into the index (unchanged files cost nothing).

    Exit status: 0 every file ingested; 1 some files failed; 2 usage error; 3 nothing could be ingested.
    """
    from ingest.pipeline import discover
    from ingest.pipeline import ingest as run_ingest

    try:
        settings = _settings(index)
        if no_ocr:
            settings = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"enabled": False})})
        clause_index = _open_index(settings, note=False)  # a read-only index refuses the writer below
        total = len(discover(paths))
        with Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=total < 3) as bar:
            task = bar.add_task("ingesting", total=total)

            def advance(name: str) -> None:
                bar.update(task, description=name[:40])
                bar.advance(task)

            report = run_ingest(paths, index=clause_index, prune=prune, progress=advance, lock_timeout=lock_timeout,
                                ocr_progress=lambda line: err.print(line, markup=False))
        record_ingest(_audit(settings), _cli_user(), ", ".join(str(p) for p in paths), report,
                      settings.fingerprint())
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    for outcome in report.outcomes:
        if outcome.status == "failed":
            _print_failure(outcome.source, outcome.reason)
        elif outcome.status in {"added", "updated"}:
            out.print(f"{outcome.status:<9} {escape(outcome.doc_id)} v{escape(outcome.version)}  {outcome.clauses} "
                      f"clauses  [dim]{escape(display_name(outcome.source))}[/dim]")
        elif outcome.status == "removed":
            out.print(f"removed   {display_name(outcome.source)} ({outcome.clauses} clauses)", markup=False)
    out.print(
        f"{report.count('added')} added, {report.count('updated')} updated, {report.count('unchanged')} unchanged, "
        f"{report.count('removed')} removed, {len(report.failed)} failed; "
        f"{report.embedded_clauses} clauses embedded; index has {clause_index.count()} clauses."
    )
    raise typer.Exit(report.exit_code)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    index: IndexOpt = None,
    k: Annotated[int, typer.Option("-k", help="Number of clauses to return.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="KEY=VALUE, e.g. doc_id=NCB-CRE-002, "
                                                    "language=zh, status=current.")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="File with one query per line; "
                                                 "prints one JSON result per line.")] = None,
    roles: RoleOpt = None,
) -> None:
    """Search the policies: the best-matching clauses with document, section and page."""
    from xiaoshen.retrieve import search as run_search

    if (query is None) == (queries is None):
        err.print("error: give a QUERY or --queries FILE (not both)")
        raise typer.Exit(2)
    try:
        settings = _settings(index)
        clause_filter = _reader_filter(filters, roles)
        clause_index = _open_index(settings)
        if queries is not None:
            for line in _input_lines(queries):
                hits = run_search(line, index=clause_index, settings=settings, k=k, filters=clause_filter)
                print(json.dumps({"query": line, "hits": [h.to_json() for h in hits]}, ensure_ascii=False),
                      flush=True)
            return
        assert query is not None
        hits = run_search(query, index=clause_index, settings=settings, k=k, filters=clause_filter)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps({"query": query, "hits": [h.to_json() for h in hits]}, ensure_ascii=False, indent=2))
        return
    if not hits:
        out.print("No matching clauses.")
        return
    for hit in hits:
        c = hit.clause
        flag = " [yellow](superseded)[/yellow]" if c.status == "superseded" else ""
        if c.suspicious:
            flag += " [red](reads like an instruction to an assistant)[/red]"
        out.print(f"[bold]{hit.rank}. {escape(c.label)}[/bold]{flag}  [dim]{escape(c.title)} · {escape(c.heading)}[/dim]")
        snippet = c.text if len(c.text) <= 400 else c.text[:400] + "…"
        out.print(snippet, markup=False)
        out.print("")


def _input_lines(path: Path) -> list[str]:
    """The non-blank lines of a --queries/--questions file, stripped."""
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise XiaoshenError(f"Cannot read queries file {path}: {exc}") from exc


@app.command()
def docs(
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List ingested documents with version, effective date, clause count and status."""
    from xiaoshen.uploads import ReviewRegister

    try:
        settings = _settings(index)
        clause_index = _open_index(settings)
        summaries = clause_index.documents()
        uploads = ReviewRegister.for_settings(settings).uploads()
        flagged = any(s.suspicious_clauses for s in summaries)
        suspicious = clause_index.clauses(where={"suspicious": True}) if flagged else []
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps([{**s.model_dump(mode="json"), "review": uploads[s.source].status if s.source in uploads
                           else None} for s in summaries], ensure_ascii=False, indent=2))
        return
    table = Table("doc id", "version", "effective", "status", "lang", "clauses", "title", "flags")
    for s in summaries:
        status = s.status if s.consistent else f"{s.status} (inconsistent: re-ingest)"
        flags = [f"{s.suspicious_clauses} suspicious"] if s.suspicious_clauses else []
        flags += ["normalised: " + ", ".join(s.normalised)] if s.normalised else []
        flags += ["upload pending review"] if s.source in uploads and uploads[s.source].status == "pending_review" else []
        table.add_row(*(escape(display_name(v)) for v in (s.doc_id, s.version, str(s.effective_date or ""), status,
                                                          s.language, str(s.clauses), s.title, "; ".join(flags))))
    out.print(table)
    for clause in suspicious:
        out.print(f"suspicious  {clause.label}: {clause.suspicious_reason}", markup=False)
    from ingest.ocr import page_ranges

    for s in summaries:
        if s.low_confidence_pages:
            out.print(f"{s.doc_id} v{s.version}: low OCR confidence on page(s) {page_ranges(s.low_confidence_pages)} "
                      f"of {s.ocr_pages} recognised from a scan — check them against the scan", markup=False)


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="A policy question, in English or Chinese.")] = None,
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    backend: Annotated[str | None, typer.Option("--backend", help="extractive (default) or openai.")] = None,
    questions: Annotated[Path | None, typer.Option("--questions", help="File with one question per line; "
                                                   "prints one JSON result per line.")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="KEY=VALUE, as for search.")] = None,
    roles: RoleOpt = None,
) -> None:
    """Answer a policy question; every sentence cites the clause it rests on, or the answer abstains."""
    from xiaoshen.answer import answer

    if (question is None) == (questions is None):
        err.print("error: give a QUESTION or --questions FILE (not both)")
        raise typer.Exit(2)
    try:
        settings = _settings(index)
        clause_filter = _reader_filter(filters, roles)
        clause_index = _open_index(settings)
        audit = _audit(settings)
        if questions is not None:
            for line in _input_lines(questions):
                result = answer(line, index=clause_index, settings=settings, backend=backend, filters=clause_filter)
                record_answer(audit, _cli_user(), result)
                print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
            return
        assert question is not None
        streamed: list[str] = []

        def stream(token: str) -> None:
            if not as_json and (backend or settings.answer.backend) != "extractive":
                streamed.append(token)
                out.print(token, end="", markup=False)

        result = answer(question, index=clause_index, settings=settings, backend=backend, filters=clause_filter,
                        on_token=stream)
        record_answer(audit, _cli_user(), result)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    if streamed:
        out.print("\n[dim]— verified —[/dim]")
    _print_answer(result)


def _print_answer(result) -> None:  # type: ignore[no-untyped-def]
    if result.abstained:
        out.print(f"[bold yellow]{result.answer}[/bold yellow]")
        if result.see_also:
            out.print("See also:")
            for c in result.see_also:
                out.print(f"  {c.label} — {c.title}: “{c.quote}”", markup=False)
    else:
        for sentence in result.sentences:
            marks = "".join(f"[{n}]" for n in sentence.citations)
            if sentence.reasoning:
                out.print(f"(assistant's note) {sentence.text} {marks}", markup=False, style="italic")
            elif sentence.supported:
                out.print(f"{sentence.text} {marks}", markup=False)
            else:
                out.print(f"[red]⚠ UNSUPPORTED:[/red] {sentence.text} {marks} ({'; '.join(sentence.issues)})")
        out.print("")
        for c in result.citations:
            out.print(f"[{c.n}] {c.label} — {c.title}", markup=False)
            out.print(f"    “{c.quote}”", markup=False)
        # Two different questions: does the cited clause answer this, and are the quoted words in it.
        out.print(f"confidence {result.confidence:.2f} (that the cited clauses answer the question) · "
                  f"groundedness {result.groundedness:.2f} (that the quoted words are in them)")
        if result.confidence < 0.5:
            out.print("[yellow]Low confidence: the cited clauses may not answer this question; read them before "
                      "relying on the answer.[/yellow]")
        out.print(f"[dim]backend {result.backend} · settings {result.settings_hash} · index {result.index_build}[/dim]")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    out.print("[dim]Xiaoshen drafts; a person decides. Check each citation at its source.[/dim]")


@app.command("eval")
def evaluate_command(
    questions: Annotated[Path, typer.Argument(help="Dev JSONL (with gold evidence) or ObliQA JSON.")],
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    backend: Annotated[str | None, typer.Option("--backend")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="KEY=VALUE, as for search.")] = None,
) -> None:
    """Score retrieval (Recall@1/5/10, MRR), citation precision, abstention, groundedness and latency."""
    from xiaoshen.evaluate import evaluate, load_questions
    from xiaoshen.retrieve import ClauseFilter

    try:
        settings = _settings(index)
        items = load_questions(questions)
        report = evaluate(items, index=_open_index(settings), settings=settings, backend=backend,
                          filters=ClauseFilter.parse(filters or []))
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    table = Table("metric", "value")
    for key, value in report.model_dump().items():
        if key not in {"misses", "risk_coverage", "calibration"}:
            table.add_row(key, "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value))
    out.print(table)
    curve = Table("answer when confidence ≥", "coverage (answered / all)", "risk (wrong / answered)",
                  title="Risk–coverage")
    for row in report.risk_coverage:
        curve.add_row(f"{row.threshold:.1f}", f"{row.coverage:.3f}", f"{row.risk:.3f}")
    out.print(curve)
    bins = Table("confidence", "answers", "mean confidence", "share citing a gold clause", title="Calibration")
    for b in report.calibration:
        bins.add_row(f"{b.low:.1f}–{b.high:.1f}", str(b.answers), f"{b.mean_confidence:.2f}", f"{b.accuracy:.2f}")
    out.print(bins)


@app.command()
def review(
    application: Annotated[Path, typer.Argument(help="Application file (JSON or YAML).")],
    index: IndexOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="md, docx or html.")] = "md",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the note here instead of stdout.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The note as JSON.")] = False,
    backend: Annotated[str | None, typer.Option("--backend")] = None,
    roles: RoleOpt = None,
    language: LanguageOpt = None,
    prepared_by: Annotated[str | None, typer.Option(
        "--prepared-by", help="The credit officer's name for 'Prepared by' (default: your login name).")] = None,
) -> None:
    """Draft the credit review note for one application: figures, policy checks, citations, recommendation.

    The note is in the application's language (its `language` field, else jurisdiction and currency) unless
    --language says otherwise. Refuses when the index lacks the policies the checks rest on."""
    from xiaoshen.review.application import load_application
    from xiaoshen.review.note import draft_note, recommendation_label
    from xiaoshen.review.render import render_docx, render_html, render_markdown

    if language not in {None, "en", "zh"}:
        err.print(f"error: unknown language {language!r}; use en or zh")
        raise typer.Exit(2)
    if fmt not in {"md", "docx", "html"}:
        err.print(f"error: unknown format {fmt!r}; use md, docx or html")
        raise typer.Exit(2)
    if fmt == "docx" and not out_file and not as_json:
        err.print("error: a Word note needs --out FILE.docx")
        raise typer.Exit(2)
    try:
        settings = _settings(index)
        note = draft_note(load_application(application), index=_open_index(settings), settings=settings,
                          backend=backend, roles=_roles(roles), language=language,  # type: ignore[arg-type]
                          prepared_by=prepared_by or _cli_user().removeprefix("cli:"))
        record_note(_audit(settings), _cli_user(), note)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    summary = (f"draft recommendation: {recommendation_label(note.recommendation).lower()}; approval authority: "
               f"{note.authority.approver}")
    if as_json:
        text = json.dumps(note.model_dump(mode="json"), ensure_ascii=False, indent=2)
    elif fmt == "docx":
        assert out_file is not None
        out_file.write_bytes(render_docx(note))
        out.print(f"wrote {out_file} ({summary})")
        return
    else:
        text = render_html(note) if fmt == "html" else render_markdown(note)
    if out_file:
        out_file.write_text(text, encoding="utf-8")
        out.print(f"wrote {out_file} ({summary})")
    else:
        print(text)


@app.command()
def batch(
    source: Annotated[Path, typer.Argument(help="A folder of application files, or a CSV (one row each).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the notes, summary.csv and errors.csv.")],
    index: IndexOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Applications drafted in parallel.")] = 1,
    formats: Annotated[str, typer.Option("--format", help="Note formats, comma-separated: md, docx, html.")] = "md",
    roles: RoleOpt = None,
    language: LanguageOpt = None,
    summary_language: Annotated[str, typer.Option(
        "--summary-language", help="Language of summary.html and summary.csv (en or zh).")] = "en",
    prepared_by: Annotated[str | None, typer.Option(
        "--prepared-by", help="The credit officer's name for 'Prepared by' (default: your login name).")] = None,
) -> None:
    """Draft review notes for many applications; re-running skips the unchanged ones.

    Writes summary.csv and summary.html (charts of DSCR, LTV and DTI against their limits) beside the notes.
    Exit status: 0 every application drafted (or unchanged); 1 some failed (see errors.csv); 2 usage error.
    """
    from xiaoshen.batch import parse_formats, run_batch

    if language not in {None, "en", "zh"} or summary_language not in {"en", "zh"}:
        err.print("error: unknown language; use en or zh")
        raise typer.Exit(2)
    try:
        chosen = parse_formats(formats)
    except XiaoshenError as exc:
        err.print(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        raise typer.Exit(2) from exc
    try:
        settings = _settings(index)
        clause_index = _open_index(settings)
        with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("drafting", total=None)
            report = run_batch(source, out_dir, index=clause_index, settings=settings, workers=workers,
                               formats=chosen, roles=_roles(roles), language=language,  # type: ignore[arg-type]
                               summary_language=summary_language,  # type: ignore[arg-type]
                               prepared_by=prepared_by or _cli_user().removeprefix("cli:"),
                               progress=lambda app_id: bar.update(task, description=app_id, advance=1))
        record_batch(_audit(settings), _cli_user(), str(source), report, settings.fingerprint(), chosen)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    for source_name, reason in report.errors:
        _print_failure(source_name, reason)
    out.print(f"{len(report.written)} drafted, {len(report.skipped)} unchanged, {len(report.errors)} failed; "
              f"notes, summary.csv, summary.html and errors.csv in {out_dir}")
    raise typer.Exit(report.exit_code)


@app.command("app")
def serve_app(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8501,
    index: IndexOpt = None,
) -> None:
    """Serve the Streamlit app on 127.0.0.1."""
    env = dict(os.environ)
    if index:
        env["XIAOSHEN_INDEX_DIR"] = str(index.resolve())
    # server.py: Streamlit's ASGI app serving Home.py, plus the endpoint that sets the HttpOnly session cookie.
    script = PROJECT_ROOT / "app" / "server.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           # Static serving lets a citation open the source PDF at its page (app/static/sources).
           "--server.enableStaticServing", "true", "--client.toolbarMode", "viewer"]
    raise typer.Exit(subprocess.call(cmd, env=env))


audit_app = typer.Typer(no_args_is_help=True, help="The HMAC-chained audit log: verify, checkpoint, show, export.")
users_app = typer.Typer(no_args_is_help=True, help="Users of the web app: add, list.")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
LogOpt = Annotated[Path | None, typer.Option("--log", help="Audit log file (default: settings access.audit_log).")]


def _log(path: Path | None):  # type: ignore[no-untyped-def]
    from xiaoshen.audit import open_audit_log

    settings = load_settings()
    return open_audit_log(path, settings.audit) if path else _audit(settings)


@audit_app.command("verify")
def audit_verify(log: LogOpt = None) -> None:
    """Check every entry's HMAC and link, the signed head and the checkpoints; exit 1 and name the lines
    if any was edited, forged or deleted, 4 if the log, its head or its key cannot be read."""
    try:
        report = _log(log).verify()
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    for problem in report.problems:
        err.print("[red]broken[/red]  ", end="")
        err.print(problem, markup=False, highlight=False)
    for warning in report.warnings:
        out.print("[yellow]note[/yellow]    ", end="")
        out.print(warning, markup=False, highlight=False)
    out.print(report.checkpoint_line(), markup=False, highlight=False)
    if report.ok:
        out.print(f"audit log intact: {report.entries} entries, chain verified")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("checkpoint")
def audit_checkpoint(log: LogOpt = None) -> None:
    """Verify the log and write a signed checkpoint of its head to settings audit.checkpoint_dir."""
    try:
        audit = _log(log)
        checkpoint = audit.checkpoint()
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    out.print(f"checkpoint: entry {checkpoint.seq} (head {checkpoint.hash[:12]}) written to {audit.checkpoint_path}",
              markup=False, highlight=False)


@audit_app.command("show")
def audit_show(
    log: LogOpt = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option("--until", help="YYYY-MM-DD")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N entries.")] = 50,
) -> None:
    """Print the newest audit entries, filtered."""
    from xiaoshen.audit import filter_entries

    try:
        entries = filter_entries(_log(log).entries(), user=user, action=action, since=since, until=until)[-limit:]
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    table = Table("seq", "time", "user", "action", "subject", "documents", "grounded")
    for e in entries:
        table.add_row(str(e.seq), e.time, e.user, e.action, e.subject[:60], ", ".join(e.documents),
                      "" if e.groundedness is None else f"{e.groundedness:.2f}")
    out.print(table)


@audit_app.command("export")
def audit_export(
    out_file: Annotated[Path, typer.Option("--out", help="File to write (.csv or .jsonl).")],
    log: LogOpt = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
) -> None:
    """Export audit entries as CSV or JSON lines (by the file's extension)."""
    from xiaoshen.audit import filter_entries

    try:
        audit = _log(log)
        entries = filter_entries(audit.entries(), user=user, action=action, since=since, until=until)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    fmt = "jsonl" if out_file.suffix.lower() in {".jsonl", ".json"} else "csv"
    out_file.write_text(audit.export(entries, fmt), encoding="utf-8")
    out.print(f"wrote {len(entries)} entries to {out_file}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    roles: Annotated[list[str], typer.Option("--role", help="officer, risk or admin (repeatable).")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="For OIDC sign-in.")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="XIAOSHEN_NEW_PASSWORD")] = "",
) -> None:
    """Add or replace a user in the users file (the password is stored as a bcrypt hash)."""
    from xiaoshen.access import add_user

    try:
        settings = load_settings()
        add_user(settings.access.users_file, username, name or username, roles, password, email)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    out.print(f"saved {username} ({', '.join(roles)}) in {settings.access.users_file}")


@users_app.command("list")
def users_list() -> None:
    """List the users who may sign in, with their roles."""
    from xiaoshen.access import UserDirectory

    try:
        directory = UserDirectory.load(load_settings().access.users_file)
    except XiaoshenError as exc:
        raise _fail(exc) from exc
    for user in directory.users.values():
        out.print(f"{user.username:<16} {', '.join(user.roles):<16} {user.name}", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
