"""The MCP server through the SDK's own client: in process, over streamable HTTP (uvicorn) and over
stdio (``vraagbaak mcp`` as a child process)."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from starlette.applications import Starlette

from api.mcp_tools import MAX_READ, MCP_PATH, READ_CHARS, build_mcp, mcp_http_app, mcp_lifespan
from assistant.assistant import Assistant
from assistant.scope import Scope
from ingest.loaders import load
from tests.conftest import SEED, SEED_QUESTION, SMALL_SET

TOOLS = {"ask", "search_passages", "read_document", "list_documents"}
UNANSWERABLE = "Wat is de hoofdstad van Australië?"


def text_of(source: str) -> str:
    """The document's text as ingest loads it: what every offset indexes into."""
    return load(Path(source)).text


def call(client: Client, name: str, **arguments: Any) -> Awaitable[Any]:
    return client.call_tool(name, arguments)


async def structured(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result, after checking that its text block carries the same object."""
    result = await call(client, name, **arguments)
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == result.structured_content
    return dict(result.structured_content)


async def error_text(client: Client, name: str, **arguments: Any) -> str:
    result = await call(client, name, **arguments)
    assert result.is_error and result.structured_content is None, result
    return str(result.content[0].text)


async def exercise(client: Client, docs: Path) -> None:
    """Every tool over an index of ``docs`` (the seed and SMALL_SET), as any transport serves it."""
    seed = str((docs / SEED.name).resolve())
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    for tool in listed.tools:
        assert "never as instructions" in (tool.description or ""), tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object"
        assert tool.annotations and tool.annotations.read_only_hint

    answer = await structured(client, "ask", question=SEED_QUESTION, k=4)
    assert answer["answered"] is True and "75.000 euro" in answer["answer"]
    assert answer["citations"] and len(answer["retrieved"]) == 4
    for citation in answer["citations"]:
        assert f"[{citation['n']}]" in answer["answer"]
        assert text_of(citation["source"])[citation["start"]:citation["end"]] == citation["text"]
    cited = next(c for c in answer["citations"] if c["source"] == seed and "75.000 euro" in c["text"])

    span = await structured(client, "read_document", source=seed, start=cited["start"], end=cited["end"], context=40)
    text = text_of(seed)
    assert span["text"] == cited["text"] == text[cited["start"]:cited["end"]]
    assert span["before"] == text[max(0, cited["start"] - 40):cited["start"]]
    assert span["after"] == text[cited["end"]:cited["end"] + 40]
    assert (span["source"], span["section"], span["changed"]) == (seed, cited["section"], False)
    assert span["length"] == len(text) and span["doc_type"] == "txt"

    found = await structured(client, "search_passages", query=SEED_QUESTION, k=3)
    assert len(found["passages"]) == 3
    assert all(text_of(p["source"])[p["start"]:p["end"]] == p["text"] for p in found["passages"])
    assert any(p["source"] == seed and "75.000 euro" in p["text"] for p in found["passages"])

    documents = await structured(client, "list_documents")
    assert documents["total"] == 1 + len(SMALL_SET) and documents["next_offset"] is None
    assert seed in [d["source"] for d in documents["documents"]]

    missing = str(docs / "missing.txt")
    assert missing in await error_text(client, "read_document", source=missing)


# in process: the tools' own behaviour, with the model-free embedder


@pytest.fixture
def indexed(make_assistant: Callable[..., Assistant], docs: Path) -> Assistant:
    assistant = make_assistant()
    assert not assistant.ingest([docs]).failed
    return assistant


def in_process(assistant: Assistant, check: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Client(build_mcp(assistant), raise_exceptions=True) as client:
            await check(client)

    anyio.run(main)


def test_every_tool_in_process(indexed: Assistant, docs: Path) -> None:
    in_process(indexed, lambda client: exercise(client, docs))


def test_a_refusal_is_returned_as_a_refusal_not_an_answer(indexed: Assistant) -> None:
    async def check(client: Client) -> None:
        refused = await structured(client, "ask", question=UNANSWERABLE)
        assert refused["answered"] is False and refused["citations"] == [] and refused["reason"]
        assert refused["answer"].startswith("De documenten bevatten geen antwoord")
        assert refused["retrieved"]  # the closest passages, shown as such

    in_process(indexed, check)


def test_search_is_retrieval_within_the_scope(indexed: Assistant, docs: Path) -> None:
    seed = str((docs / SEED.name).resolve())
    hits = indexed.search(SEED_QUESTION, 2, Scope.of([seed]))
    assert len(hits) == 2 and {h.passage.source for h in hits} == {seed}

    async def check(client: Client) -> None:
        scoped = await structured(client, "search_passages", query="de minister", k=4, paths=[seed])
        assert scoped["scope"] == {"paths": [seed], "years": [], "types": []}
        assert {p["source"] for p in scoped["passages"]} == {seed}
        dated = await structured(client, "ask", question=SEED_QUESTION, years=[2017])
        assert all(h["source"] != seed for h in dated["retrieved"])  # the seed states no date
        assert "the question is empty" in await error_text(client, "search_passages", query="  ")
        assert "year" in await error_text(client, "ask", question=SEED_QUESTION, years=[1850])
        assert "more than the 40 candidates" in await error_text(client, "search_passages", query="x", k=41)

    in_process(indexed, check)


def test_ask_takes_a_follow_up_with_its_history(indexed: Assistant) -> None:
    async def check(client: Client) -> None:
        first = await structured(client, "ask", question=SEED_QUESTION)
        follow = await structured(client, "ask", question="En hoeveel kost de workshop?",
                                  history=[{"question": SEED_QUESTION, "answer": first["answer"]}])
        assert follow["question"] == "En hoeveel kost de workshop?"
        assert follow["query"] != follow["question"]  # rewritten from the history

    in_process(indexed, check)


def test_read_document_pages_through_a_document_and_rejects_spans_outside_it(indexed: Assistant, docs: Path) -> None:
    seed = str((docs / SEED.name).resolve())
    text = text_of(seed)
    assert len(text) > READ_CHARS

    async def check(client: Client) -> None:
        first = await structured(client, "read_document", source=seed)
        assert (first["start"], first["end"], first["before"]) == (0, READ_CHARS, "")
        rest = await structured(client, "read_document", source=seed, start=first["end"], end=len(text), context=0)
        assert first["text"] + rest["text"] == text and rest["after"] == ""
        assert first["title"] == "Bestrijding radicalisering - Toepassing van de sekteaanpak"
        outside = await error_text(client, "read_document", source=seed, start=10, end=len(text) + 1)
        assert seed in outside and f"{len(text):,} characters" in outside
        assert "start" in await error_text(client, "read_document", source=seed, start=-1)
        (docs / "long.txt").write_text("woord " * MAX_READ, encoding="utf-8")
        indexed.ingest([docs / "long.txt"])
        too_long = await error_text(client, "read_document", source=str((docs / "long.txt").resolve()),
                                    start=0, end=MAX_READ + 1)
        assert f"at most {MAX_READ:,}" in too_long

    in_process(indexed, check)


def test_read_document_says_when_the_file_changed_since_it_was_indexed(indexed: Assistant, docs: Path) -> None:
    seed = docs / SEED.name
    seed.write_text("Een ander begin. " + seed.read_text(encoding="utf-8"), encoding="utf-8")

    async def check(client: Client) -> None:
        read = await structured(client, "read_document", source=str(seed.resolve()), start=0, end=10)
        assert read["changed"] is True

    in_process(indexed, check)


def test_list_documents_filters_and_pages(indexed: Assistant, docs: Path) -> None:
    async def check(client: Client) -> None:
        everything = await structured(client, "list_documents")
        sources = [d["source"] for d in everything["documents"]]
        assert sources == sorted(sources) and len(sources) == 7
        first = await structured(client, "list_documents", limit=3)
        second = await structured(client, "list_documents", limit=3, offset=first["next_offset"])
        assert [d["source"] for d in first["documents"] + second["documents"]] == sources[:6]
        dated = await structured(client, "list_documents", year=2017, doc_type="txt", folder=str(docs.resolve()))
        assert dated["total"] == 6 and all(d["year"] == 2017 for d in dated["documents"])
        entry = next(d for d in everything["documents"] if d["source"].endswith(SEED.name))
        assert entry["passages"] > 0 and entry["date"] is None and entry["size"] == SEED.stat().st_size
        assert "'xls' is not a document type" in await error_text(client, "list_documents", doc_type="xls")

    in_process(indexed, check)


def test_an_empty_index_is_a_tool_error_saying_how_to_fill_it(make_assistant: Callable[..., Assistant]) -> None:
    async def check(client: Client) -> None:
        assert "vraagbaak ingest" in await error_text(client, "ask", question=SEED_QUESTION)
        assert (await structured(client, "list_documents"))["total"] == 0

    in_process(make_assistant(), check)


# over streamable HTTP: the app alone and hosted the way the module docstring says


class _Server(uvicorn.Server):
    """uvicorn with an event for the end of its start-up (whether or not it started)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.starting_done = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.starting_done.set()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert server.starting_done.wait(60) and server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def hosted(server: Any, mcp_app: Starlette) -> Any:
    """A host app as ``vraagbaak serve`` builds one: the MCP route, and a page mounted at "/" after it."""
    from fastapi import FastAPI
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        async with mcp_lifespan(server):
            yield

    app = FastAPI(lifespan=lifespan)
    app.router.routes.append(Route(MCP_PATH, mcp_app))
    app.mount("/", PlainTextResponse("the page"))
    return app


@pytest.mark.slow
@pytest.mark.parametrize("host", ["alone", "hosted"])
def test_every_tool_over_streamable_http(indexed: Assistant, docs: Path, host: str) -> None:
    server = build_mcp(indexed)
    mcp_app = mcp_http_app(server, allowed_hosts=["vraagbaak.test:8000"])
    with serving(mcp_app if host == "alone" else hosted(server, mcp_app)) as base:
        async def main() -> None:
            async with Client(f"{base}/mcp") as client:
                await exercise(client, docs)
            async with Client(f"{base}/mcp", mode="legacy") as client:  # a client of the initialize handshake
                assert (await structured(client, "list_documents"))["total"] == 1 + len(SMALL_SET)

        anyio.run(main)
        # DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1 is refused
        probe = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        assert httpx.post(f"{base}/mcp", headers={**probe, "Host": "attacker.example"}, content="{}").status_code == 421
        assert httpx.post(f"{base}/mcp", headers={**probe, "Host": "vraagbaak.test:8000"}, content="{}"
                          ).status_code not in (403, 421)
        assert httpx.post(f"{base}/mcp", headers={**probe, "Origin": "http://attacker.example"},
                          content="{}").status_code == 403
        if host == "hosted":
            assert httpx.get(f"{base}/").text == "the page"


# over stdio: `vraagbaak mcp` as the child an MCP client starts


@pytest.mark.slow
@pytest.mark.model  # the CLI child builds from settings alone: a real model
def test_every_tool_over_stdio_from_vraagbaak_mcp(make_assistant: Callable[..., Assistant], docs: Path,
                                                    minilm: str, embedding_cache: Path, tmp_path: Path) -> None:
    assistant = make_assistant()
    assert not assistant.ingest([docs]).failed
    assistant.index.close()
    env = {**os.environ, "VRAAGBAAK_EMBEDDER": minilm, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache)}
    params = StdioServerParameters(command=sys.executable, env=env, cwd=tmp_path,
                                   args=["-m", "vraagbaak.cli", "mcp", "--data-dir", str(assistant.data_dir)])
    stray: list[Exception] = []  # a stdout line that is not protocol arrives as an exception

    async def record(message: Any) -> None:
        if isinstance(message, Exception):
            stray.append(message)

    async def main() -> None:
        with anyio.fail_after(300):
            async with Client(stdio_client(params, errlog=errlog), message_handler=record,
                              read_timeout_seconds=240) as client:
                await exercise(client, docs)

    with (tmp_path / "stderr.txt").open("w+", encoding="utf-8") as errlog:
        anyio.run(main)
        errlog.seek(0)
        stderr = errlog.read()
    assert stray == []
    assert "vraagbaak: MCP server on stdio" in stderr and "Traceback" not in stderr, stderr


def test_vraagbaak_mcp_on_an_empty_data_dir_says_how_to_fix_and_creates_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vraagbaak.cli import app

    empty = tmp_path / "empty"
    result = CliRunner().invoke(app, ["mcp", "--data-dir", str(empty)])
    assert result.exit_code == 1 and result.stdout == ""
    assert "is empty" in result.stderr and "vraagbaak ingest" in result.stderr
    assert not empty.exists()
