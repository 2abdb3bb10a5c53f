"""The ``vraagbaak`` command line (typer): thin; options fall back to settings."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from assistant.settings import Settings
from values.errors import StoreError, VraagbaakError
from values.report import IngestReport
from values.report import Progress as IngestProgress

EXIT_CODES = ("Exit codes: 0 done; 1 an error, or (ingest) a file or folder that could not be indexed; "
              "2 bad usage or settings.")


def _untyped_flags(params: list[Any]) -> list[Any]:
    """Hide the Python type names typer's help shows (``<bool>`` after a flag, ``<list[Path]>``).

    A flag gets an empty metavar; an argument, named by its metavar, shows no type column.
    """
    for param in params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, typer.core.TyperArgument) and param.metavar is not None:
            param.display_type_rich = _no_type  # type: ignore[method-assign]
    return params


def _no_type(ctx: Any) -> None:
    return None


class _Group(typer.core.TyperGroup):
    """The command group, its help without type names after flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's parameters, flags untyped."""
        return _untyped_flags(super().get_params(ctx))


class _Command(typer.core.TyperCommand):
    """A command, its help without type names after flags (options name their values by metavar)."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The command's parameters, flags untyped."""
        return _untyped_flags(super().get_params(ctx))


app = typer.Typer(add_completion=False, no_args_is_help=True, epilog=EXIT_CODES, cls=_Group,
                  help="Ask questions over your documents, with cited sources.")


def command(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.command`` with this CLI's help format and the exit codes below every command's help."""
    kwargs.setdefault("epilog", EXIT_CODES)
    return app.command(name, cls=_Command, **kwargs)


out = Console(soft_wrap=True)  # results, unwrapped: a script redirects them
err = Console(stderr=True, soft_wrap=True)  # progress and errors (unwrapped: one line each)


def visible(text: object) -> str:
    r"""``text`` with every character that is not printable shown as its escape, for the terminal.

    A file name may hold a newline, terminal control codes (``\x1b[2J``) or bidi marks that
    reorder the line (``\u202e``): they are printed as ``\n``, ``\x1b``, ``\u202e``, never raw.
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def shown(text: object) -> str:
    """``visible(text)`` with rich markup escaped: for ``Console.print``."""
    return escape(visible(text))


DataDir = Annotated[Path | None, typer.Option("--data-dir", envvar="VRAAGBAAK_DATA_DIR", metavar="DIR",
                                              help="Index folder (default ./.vraagbaak).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _default(name: str) -> object:
    """The default of one setting, for a help text (defaults live in settings only)."""
    return Settings.model_fields[name].default


def settings_from(data_dir: Path | None, **overrides: Any) -> Settings:
    """The one Settings object, built at the edge."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    try:
        return Settings(**values)
    except ValidationError as e:
        err.print(f"[red]invalid settings:[/red] {escape(str(e))}")
        raise typer.Exit(2) from e
    except SettingsError as e:  # an env value pydantic-settings cannot even parse (a list not in JSON)
        err.print(f"[red]invalid settings:[/red] {escape(str(e))}; a list setting takes JSON, "
                  """e.g. VRAAGBAAK_EXCLUDE='["README.md", "drafts/*"]'""")
        raise typer.Exit(2) from e


def build(settings: Settings) -> Any:
    """The assistant for these settings (imported late: the CLI starts fast)."""
    from vraagbaak.compose import build_assistant

    return build_assistant(settings)


def fail(error: VraagbaakError) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    err.print(f"[red]error:[/red] {shown(error)}")  # a message's "[llm]" is text, not markup
    return typer.Exit(1)


def with_progress(run: Callable[[IngestProgress], IngestReport], *, transient: bool) -> IngestReport:
    """Run an ingest with a progress bar on stderr (the file being read, done of total, time left)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=transient) as bar:
        task = bar.add_task("ingest", total=None)

        def progress(done: int, total: int, source: str) -> None:
            bar.update(task, completed=done, total=total, description=shown(Path(source).name[:40]))

        return run(progress)


def ingest_one(assistant: Any, path: Path, progress: IngestProgress) -> IngestReport:
    """Ingest one file or folder with ``progress`` (``serve --ingest`` runs one per path)."""
    report: IngestReport = assistant.ingest([path], progress=progress)
    return report


def print_report(report: IngestReport, as_json: bool, verbose: bool = False) -> None:
    """The run's summary (or its JSON) on stdout, a line per failed file (``verbose``: with the library's words)."""
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False), flush=True)
        return
    out.print(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
              f"renamed {report.renamed}, removed {report.removed}, failed {len(report.failed)}; "
              f"{report.passages} passages indexed, {report.embedded} embedded, {report.seconds:.1f} s",
              highlight=False)
    for failure in report.failed:
        out.print(f"[yellow]failed:[/yellow] {shown(failure['source'])}: {shown(failure['reason'])}",
                  highlight=False)
        if verbose and failure.get("detail"):
            out.print(f"        detail: {shown(failure['detail'])}", highlight=False)
    if report.stale:
        out.print(f"[yellow]note:[/yellow] {len(report.stale)} indexed document(s) under these paths are gone "
                  f"from disk and still answer questions (e.g. {shown(report.stale[0])}); "
                  "`vraagbaak ingest --sync PATH` removes them", highlight=False)
    sys.stdout.flush()


@command(epilog="Exit codes: 0 every path indexed (or unchanged); 1 any path failed (the summary "
                     "lists each), or an error; 2 bad usage or settings.")
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(
        metavar="PATH", show_default=False,
        help="Files or folders (recursive). None with --sync: everything the index was built from.")] = None,
    data_dir: DataDir = None,
    sync: Annotated[bool, typer.Option("--sync", help="Remove indexed documents gone from these folders.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start the index over.")] = False,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", metavar="GLOB", help="Leave out files in these folders matching this glob (repeatable; remembered "
                          "with the folders for later syncs; VRAAGBAAK_EXCLUDE applies everywhere).")] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS", help="Load, split and embed on Ray: 'auto' (the running cluster, else a local "
                                         "one) or the cluster's address (VRAAGBAAK_RAY_ADDRESS).")] = None,
    as_json: JsonOut = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="With each failure, what its library said (the JSON has it as `detail`).")] = False,
) -> None:
    """Add or update documents; unchanged files cost only a hash check.

    The summary (or --json) goes to stdout, the progress bar to stderr.
    """
    settings = settings_from(data_dir, ray_address=ray)
    try:
        assistant = build(settings)
        if not paths and not (sync and not rebuild):
            raise typer.BadParameter("give files or folders to ingest, or --sync alone to re-read "
                                     "everything the index was built from", param_hint="PATHS")

        def run(progress: IngestProgress) -> IngestReport:
            if paths:
                return assistant.ingest(paths, sync=sync, rebuild=rebuild, progress=progress, exclude=exclude or ())
            return assistant.sync_all(progress=progress)

        report = with_progress(run, transient=as_json)
    except VraagbaakError as e:
        raise fail(e) from e
    print_report(report, as_json, verbose)
    if report.failed:  # scripts notice, even when the other paths were indexed
        raise typer.Exit(1)


@command()
def remove(path: Annotated[Path, typer.Argument(metavar="PATH", help="The indexed file.")],
           data_dir: DataDir = None) -> None:
    """Remove one document from the index."""
    settings = settings_from(data_dir)
    try:
        require_index(settings)
        removed = build(settings).remove(path)
    except VraagbaakError as e:
        raise fail(e) from e
    if not removed:
        err.print(f"[yellow]{shown(path)} was not indexed[/yellow]")
        raise typer.Exit(1)
    err.print(f"removed {shown(path)}")


@command()
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="The question, in quotes.")],
    k: Annotated[int | None, typer.Option(
        "-k", metavar="N", min=1,
        help=f"Passages to retrieve (default VRAAGBAAK_TOP_K, else {_default('top_k')}; at most "
             "VRAAGBAAK_CANDIDATES).")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
    stream: Annotated[bool, typer.Option(
        "--stream", help="Print a draft as it is written, then the checked (final) answer.")] = False,
    scores: Annotated[bool, typer.Option(
        "--scores", help="Show each passage's relevance (similarity to the question, 0 to 1).")] = False,
    within: Annotated[list[Path] | None, typer.Option(
        "--in", metavar="PATH", help="Only from this document or folder (repeatable).")] = None,
    year: Annotated[list[str] | None, typer.Option(
        "--year", metavar="YEAR", help="Only from documents dated in this year (repeatable).")] = None,
    doc_type: Annotated[list[str] | None, typer.Option(
        "--type", metavar="TYPE",
        help="Only from documents of this type: txt, md, pdf, docx, html (repeatable).")] = None,
) -> None:
    """Answer a question from the indexed documents, with numbered citations."""
    from assistant.answer import Answer
    from assistant.assistant import Token
    from assistant.scope import Scope

    settings = settings_from(data_dir)
    if k is not None and k > settings.candidates:
        raise typer.BadParameter(f"{k} is more than the {settings.candidates} candidates each search returns "
                                 "(VRAAGBAAK_CANDIDATES)", param_hint="'-k'")
    draft: list[str] = []
    try:
        scope = Scope.of([str(p.expanduser().resolve()) for p in within or []], year or [], doc_type or [])
        require_index(settings)
        answer = None
        for event in build(settings).ask_stream(question, k, scope):
            if isinstance(event, Token) and stream and not as_json:
                sys.stdout.write(("draft: " if not draft else "") + event.text)
                sys.stdout.flush()
                draft.append(event.text)
            elif isinstance(event, Answer):
                answer = event
    except VraagbaakError as e:
        if draft:
            print()
        raise fail(e) from e
    assert answer is not None
    if as_json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return
    if draft:
        print("\n")
        if " ".join("".join(draft).split()) == " ".join(answer.answer.split()):
            print("final (checked): as the draft above")
        else:
            print("final (checked; it replaces the draft above):")
            print(answer.answer)
    else:
        print(answer.answer)
    print()
    for c in answer.citations:
        flag = "" if c.verified else "  ⚠ unverified: the passage does not support the sentence citing it"
        print(f"[{c.n}] {_where(c.hit.to_json())}{_relevance(c.hit) if scores else ''}{flag}")
        print("    " + " ".join(c.hit.passage.text.split())[:300])
    if not answer.answered:
        if answer.extra.get("reason"):
            print(f"(why: {answer.extra['reason']})")
        for n, hit in enumerate(answer.retrieved, start=1):
            print(f"({n}) {_where(hit.to_json())}{_relevance(hit) if scores else ''}")


def require_index(settings: Settings) -> None:
    """Raise StoreError when the data dir holds no index, before building creates its folders."""
    from vraagbaak.compose import catalog_path  # imported late, as in ``build``: the CLI starts fast

    if settings.catalog_url is None and not catalog_path(settings).is_file():  # a shared one lives in its database
        raise StoreError(f"the index in {settings.data_dir.resolve()} is empty: add documents with "
                         "`vraagbaak ingest PATH`")


def _relevance(hit: Any) -> str:
    if hit.dense is None:
        return "  (keyword match only)"
    return f"  relevance {hit.dense:.2f}"


def _where(item: dict[str, Any]) -> str:
    parts = [visible(item["source"])]
    if item.get("page"):
        parts.append(f"p. {item['page']}")
    if item.get("section"):
        parts.append(str(item["section"]))
    parts.append(f"chars {item['start']}–{item['end']}")
    return ", ".join(parts)


@command()
def status(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """What is indexed: documents, passages, embedder, data dir, last runs."""
    try:
        info = build(settings_from(data_dir)).status()
    except VraagbaakError as e:
        raise fail(e) from e
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
        return
    print(f"data dir:  {info['data_dir']}\nembedder:  {info['embedder']}\n"
          f"documents: {info['documents']}\npassages:  {info['passages']}")
    if info.get("reranker"):
        print(f"reranker:  {info['reranker']}")
    if info["documents"]:
        print("types:     " + ", ".join(f"{t} {n}" for t, n in info["types"].items()))
        print("years:     " + ", ".join([*(f"{y} {n}" for y, n in info["years"].items()),
                                         f"undated {info['undated']}"]))
    refusal = info["refusal"]
    if refusal["calibrated"]:
        print(f"refusal:   {refusal['source']} thresholds: {refusal['threshold']} (sentence + passage "
              f"similarity + {refusal['word_weight']} x word share), other language {refusal['foreign']}")
    else:
        print("refusal:   embedder not calibrated: answers only when the sentences hold the question's "
              "words (run `vraagbaak calibrate`)")
    if info.get("calibration"):
        c = info["calibration"]
        print(f"calibrated {c['at']} on {c['probes']} probes: answers {c['answered']:.0%}, refuses {c['refused']:.0%}")
    for folder, patterns in info["folders"].items():
        print(f"folder:    {folder}" + (f" (except {', '.join(patterns)})" if patterns else ""))
    for run in info["runs"]:
        print(f"run {run['started_at']}: +{run['added']} ~{run['updated']} ={run['unchanged']} "
              f"-{run['removed']} failed {len(run['failed'])} ({run['seconds']} s)")


@command()
def calibrate(
    data_dir: DataDir = None,
    documents: Annotated[int, typer.Option(
        "--documents", min=2, metavar="N", help="Documents to draw probes from.")] = 40,
    probes: Annotated[int, typer.Option("--probes", min=10, metavar="N", help="Answerable probes to make.")] = 60,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the fit without storing it.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Fit the refusal thresholds for the index's embedder on probes made from its own documents."""
    from assistant.calibration import calibrate as run_calibration

    try:
        settings = settings_from(data_dir)
        require_index(settings)
        result = run_calibration(build(settings), documents=documents, count=probes, store=not dry_run)
    except VraagbaakError as e:
        raise fail(e) from e
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    report: dict[str, Any] = result["report"]  # type: ignore[assignment]
    policy: dict[str, Any] = result["policy"]  # type: ignore[assignment]
    print(f"probes:    {report['probes']} ({report['answerable']} answerable) from {report['documents']} documents")
    print(f"fitted:    answers {report['answered']:.0%} of answerable probes, refuses {report['refused']:.0%} "
          f"of unanswerable ones")
    before = report["before"]
    print(f"before:    {before['answered']:.0%} / {before['refused']:.0%} ({before['source']} thresholds)")
    print(f"thresholds: {policy['threshold']}, other language {policy['foreign']}")
    print("not stored (--dry-run)" if dry_run else "stored in the index; `vraagbaak status` shows it")


@command()
def serve(
    host: Annotated[str | None, typer.Option(
        metavar="ADDRESS", help=f"Bind address (default VRAAGBAAK_HOST, else {_default('host')}).")] = None,
    port: Annotated[int | None, typer.Option(
        metavar="PORT", min=1, max=65535, help=f"Port (default VRAAGBAAK_PORT, else {_default('port')}).")] = None,
    data_dir: DataDir = None,
    watch_dir: Annotated[Path | None, typer.Option(
        "--watch", metavar="FOLDER", help="Keep this folder indexed while serving (as `vraagbaak watch`).")] = None,
    ingest_paths: Annotated[list[Path] | None, typer.Option(
        "--ingest", metavar="PATH", help="Index these files or folders once the page is up (repeatable, in order); "
                                         "the page answers from what is indexed so far.")] = None,
) -> None:
    """Start the chat page and the doors (HTTP API, OpenAI-compatible, MCP); with --ingest, serve first."""
    from vraagbaak.compose import make_doors
    from vraagbaak.doors import check_exposure
    from vraagbaak.server import check_port, start

    settings = settings_from(data_dir, host=host, port=port)
    try:
        doors = make_doors(settings)
        check_exposure(settings.host, doors)  # before the model loads: a refusal comes at once
        check_port(settings.host, settings.port)
        assistant = build(settings)
        watcher = (start_watcher(assistant, watch_dir, as_json=False, debounce=settings.watch_debounce)
                   if watch_dir else None)
        try:
            server = start(assistant, doors, host=settings.host, port=settings.port)
            # one run per path, in order: each is visible to the page when it ends (and every
            # committed batch already before), so the page answers from the first path while
            # the rest are still being embedded
            if ingest_paths:
                report = IngestReport()
                for path in ingest_paths:
                    report = report.plus(with_progress(partial(ingest_one, assistant, path), transient=False))
                print_report(report, as_json=False)
            server.wait()
        finally:
            if watcher is not None:
                watcher.stop()
    except VraagbaakError as e:
        raise fail(e) from e


keys_app = typer.Typer(no_args_is_help=True, cls=_Group, epilog=EXIT_CODES,
                       help="API keys for the doors (HTTP API, OpenAI-compatible, MCP) and the page's sign-in.")
app.add_typer(keys_app, name="keys")
KeysFile = Annotated[Path | None, typer.Option("--keys-file", metavar="FILE",
                                               help="Keys file (default VRAAGBAAK_KEYS_FILE, else DIR/keys.json).")]


@keys_app.command("add", cls=_Command, epilog=EXIT_CODES)
def keys_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Who or what uses the key (the page's sign-in name).")],
    role: Annotated[str, typer.Option("--role", metavar="ROLE", help="read: ask and search; admin: also ingest "
                                                                     "and remove.")] = "read",
    data_dir: DataDir = None,
    keys_file: KeysFile = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from api.keys import add_key

    settings = settings_from(data_dir, keys_file=keys_file)
    try:
        token = add_key(settings.keys_path, name, role)  # type: ignore[arg-type]
    except VraagbaakError as e:
        raise fail(e) from e
    print(token)
    err.print(f"key {escape(name)!r} ({role}) stored in {escape(str(settings.keys_path))}; the key is shown only "
              "now: send it as `Authorization: Bearer <key>`")


@keys_app.command("list", cls=_Command, epilog=EXIT_CODES)
def keys_list(data_dir: DataDir = None, keys_file: KeysFile = None, as_json: JsonOut = False) -> None:
    """The keys in force (names and roles; the keys themselves are never stored)."""
    from api.keys import Keys

    settings = settings_from(data_dir, keys_file=keys_file)
    try:
        keys = list(Keys.load(settings.keys_path, settings.api_keys))
    except VraagbaakError as e:
        raise fail(e) from e
    if as_json:
        print(json.dumps([{"name": k.name, "role": k.role, "created": k.created} for k in keys]))
        return
    for key in keys:
        print(f"{key.name}\t{key.role}\t{key.created or 'from settings'}")
    if not keys:
        err.print("no keys: the doors are open on loopback only")


@keys_app.command("remove", cls=_Command, epilog=EXIT_CODES)
def keys_remove(name: Annotated[str, typer.Argument(metavar="NAME")], data_dir: DataDir = None,
                keys_file: KeysFile = None) -> None:
    """Revoke a key (a running server reads the keys at start: restart it)."""
    from api.keys import remove_key

    settings = settings_from(data_dir, keys_file=keys_file)
    try:
        removed = remove_key(settings.keys_path, name)
    except VraagbaakError as e:
        raise fail(e) from e
    if not removed:
        err.print(f"[red]error:[/red] no key named {escape(name)!r} in {escape(str(settings.keys_path))}")
        raise typer.Exit(1)
    err.print(f"key {escape(name)!r} removed")


@command()
def watch(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Folder to keep indexed (recursive).")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per ingest run.")] = False,
) -> None:
    """Ingest FOLDER, then again within seconds whenever a file in it is added, changed or deleted."""
    settings = settings_from(data_dir)
    try:
        watcher = start_watcher(build(settings), folder, as_json=as_json, debounce=settings.watch_debounce)
    except VraagbaakError as e:
        raise fail(e) from e
    err.print(f"watching {shown(folder)} (Ctrl-C stops)")
    interrupted = False
    try:
        while watcher.alive:
            watcher.join(1.0)
    except KeyboardInterrupt:
        interrupted = True
        err.print("stopping")
    finally:
        watcher.stop()
    if not interrupted:  # the worker died of an unexpected error; its traceback is printed above
        raise typer.Exit(1)


def start_watcher(assistant: Any, folder: Path, *, as_json: bool, debounce: float) -> Any:
    """A started FolderWatcher on ``folder`` that prints a line (or JSON) per ingest run."""
    from ingest.watch import FolderWatcher

    def report(run: IngestReport) -> None:
        if as_json:
            print(json.dumps(run.to_json(), ensure_ascii=False), flush=True)
            return
        err.print(f"{shown(folder)}: added {run.added}, updated {run.updated}, renamed {run.renamed}, "
                  f"removed {run.removed}, unchanged {run.unchanged}, failed {len(run.failed)} "
                  f"({run.seconds:.1f} s)")

    watcher = FolderWatcher(assistant.ingestor, [folder], on_report=report, debounce=debounce,
                            on_error=lambda e: err.print(f"[red]error:[/red] {shown(e)}"))
    watcher.start()
    return watcher


@command("eval")
def eval_(
    questions: Annotated[list[Path], typer.Argument(
        metavar="FILE", help="JSON-lines question files (dev.jsonl format).")],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write one JSON line per question here.")] = None,
    k: Annotated[int, typer.Option("-k", metavar="N", min=1, help="Passages retrieved per question.")] = 10,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Run question sets against the index; with gold fields, print hit@1/5, MRR@10 and more."""
    from assistant.evaluation import evaluate, read_questions

    settings = settings_from(data_dir)
    try:
        records = [r for path in questions for r in read_questions(path)]
        require_index(settings)
        assistant = build(settings)
        sink = out.open("w", encoding="utf-8") if out else None
        try:
            def write(result: dict[str, Any]) -> None:
                if sink is not None:
                    sink.write(json.dumps(result, ensure_ascii=False) + "\n")

            summaries = evaluate(assistant, records, k=k, on_result=write)
        finally:
            if sink is not None:
                sink.close()
    except VraagbaakError as e:
        raise fail(e) from e
    if as_json:
        print(json.dumps({"settings": _eval_settings(settings), "sets": summaries}, ensure_ascii=False))
        return
    keys = ["questions", "hit@1", "hit@5", "mrr@10", "doc_recall@5", "first_citation_hit",
            "answered_rate", "refusal_rate", "latency_ms_p50", "latency_ms_p95", "retrieval_ms_p95"]
    print("set".ljust(14) + "".join(key.rjust(max(len(key), 6) + 2) for key in keys))
    for summary in summaries:
        cells = ["-" if summary[key] is None else str(summary[key]) for key in keys]
        print(str(summary["set"])[:14].ljust(14)
              + "".join(c.rjust(max(len(key), 6) + 2) for c, key in zip(cells, keys, strict=True)))


def _eval_settings(settings: Settings) -> dict[str, Any]:
    keep = ("embedder", "chunk_size", "chunk_overlap", "structure", "embed_question_parts", "top_k",
            "candidates", "dense_weight", "keyword_weight", "keyword_known_power", "keyword_peak_power",
            "rrf_k", "refuse_threshold", "refuse_foreign", "refuse_lexical_only", "llm", "dense_partition",
            "keyword_engine", "reranker", "rerank_depth")
    return {key: getattr(settings, key) for key in keep}


@command()
def mcp(data_dir: DataDir = None) -> None:
    """Serve the MCP tools (ask, search_passages, read_document, list_documents) over stdio.

    For an MCP client that starts this command: stdout carries only the protocol, logs go to stderr.

    Closing stdin stops it. `vraagbaak serve` offers the same tools over HTTP.
    """
    from contextlib import redirect_stdout

    from api.mcp_tools import build_mcp

    settings = settings_from(data_dir)
    try:
        require_index(settings)
        with redirect_stdout(sys.stderr):  # whatever building prints is not protocol (serving diverts fd 1 itself)
            server = build_mcp(build(settings))
    except VraagbaakError as e:
        raise fail(e) from e
    err.print(f"vraagbaak: MCP server on stdio over the index in {escape(str(settings.data_dir.resolve()))}",
              highlight=False)
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        err.print("stopping")


def main() -> None:
    """Console-script entry point."""
    # pypdf logs what it repairs ("EOF marker not found") on stderr; a file it cannot read is
    # reported once, in words, as that file's failure
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each index build at DEBUG
    app()


if __name__ == "__main__":
    main()
