"""The doors of a real ``vraagbaak serve`` process with keys, driven by clients we did not write:
the official ``openai`` package, LangChain's ``ChatOpenAI``, ``gradio_client`` for the signed-in
page, and plain HTTP for the roles. The server's logs never show a key.

The server runs the default embedder (the packaged multilingual e5) over the seed document, as a
user's first ``serve`` does, with its real refusal thresholds.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.keys import add_key
from ingest.loaders import load
from tests.conftest import SEED, SEED_QUESTION
from tests.test_serve import free_port

pytestmark = [pytest.mark.model, pytest.mark.slow]


@dataclass
class Served:
    url: str
    read: str
    admin: str
    docs: Path
    process: subprocess.Popen[str]
    lines: queue.Queue[str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(SEED, docs)
    keys = root / "keys.json"
    read, admin = add_key(keys, "reader", "read"), add_key(keys, "ops", "admin")
    port = free_port()
    env = {**os.environ, "VRAAGBAAK_DATA_DIR": str(root / "index"), "VRAAGBAAK_KEYS_FILE": str(keys),
           "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache), "VRAAGBAAK_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "vraagbaak.cli", "serve", "--ingest", str(docs)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True).start()
    seen = []
    while not (seen and seen[-1].startswith("added 1,")):  # the ingest summary: the seed is indexed
        seen.append(lines.get(timeout=300))
        assert process.poll() is None, "".join(seen)
    assert any("API keys are required" in line for line in seen)
    yield Served(f"http://127.0.0.1:{port}", read, admin, docs, process, lines)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def exact(citation: dict[str, object]) -> None:
    text = load(Path(str(citation["source"]))).text
    assert text[int(citation["start"]):int(citation["end"])] == citation["text"]  # type: ignore[call-overload]


def test_the_openai_client_gets_the_answer_and_exact_citations(served: Served) -> None:
    import openai

    client = openai.OpenAI(base_url=served.url + "/v1", api_key=served.read)
    assert [m.id for m in client.models.list()] == ["vraagbaak"]
    completion = client.chat.completions.create(model="vraagbaak",
                                                messages=[{"role": "user", "content": SEED_QUESTION}])
    content = completion.choices[0].message.content or ""
    assert "75.000 euro" in content and "[1]" in content and SEED.name in content
    extra = completion.model_extra or {}
    assert extra["vraagbaak"]["answered"] is True and extra["citations"]
    for citation in extra["citations"]:
        assert citation["verified"]
        exact(citation)


def test_a_streamed_completion_ends_with_the_citations(served: Served) -> None:
    import openai

    client = openai.OpenAI(base_url=served.url + "/v1", api_key=served.read)
    stream = client.chat.completions.create(model="vraagbaak", stream=True, extra_body={"k": 1},
                                            messages=[{"role": "user", "content": SEED_QUESTION}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "75.000 euro" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    citations = (last.model_extra or {})["citations"]
    assert citations and len((last.model_extra or {})["vraagbaak"]["retrieved"]) == 1
    for citation in citations:
        exact(citation)


def test_an_unknown_key_is_refused_by_the_openai_client(served: Served) -> None:
    import openai

    client = openai.OpenAI(base_url=served.url + "/v1", api_key="vbk_not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="API key"):
        client.chat.completions.create(model="vraagbaak", messages=[{"role": "user", "content": SEED_QUESTION}])


def test_langchain_chat_openai_pointed_at_vraagbaak(served: Served) -> None:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="vraagbaak", base_url=served.url + "/v1", api_key=served.read,  # type: ignore[arg-type]
                       max_retries=0)
    reply = model.invoke(SEED_QUESTION)
    assert "75.000 euro" in str(reply.content) and SEED.name in str(reply.content)
    streamed = "".join(str(chunk.content) for chunk in model.stream(SEED_QUESTION))
    assert "75.000 euro" in streamed


def test_roles_no_key_read_key_admin_key(served: Served) -> None:
    ingest = {"paths": [str(served.docs)]}
    assert httpx.post(served.url + "/api/v1/ingest", json=ingest, timeout=60).status_code == 401
    read = httpx.post(served.url + "/api/v1/ingest", json=ingest, timeout=60,
                      headers={"Authorization": f"Bearer {served.read}"})
    assert read.status_code == 403
    admin = httpx.post(served.url + "/api/v1/ingest", json=ingest, timeout=300,
                       headers={"Authorization": f"Bearer {served.admin}"})
    assert admin.status_code == 200 and admin.json()["unchanged"] == 1


def test_the_page_asks_to_sign_in_with_a_key(served: Served) -> None:
    from gradio_client import Client

    with pytest.raises(ValueError):  # gradio_client cannot read the page's config without the sign-in
        Client(served.url + "/", verbose=False)
    page = Client(served.url + "/", auth=("reader", served.read), verbose=False)
    conversation, _ = page.predict(SEED_QUESTION, [], [], [], 5, False, api_name="/ask")
    assert "75.000 euro" in str(conversation)
    assert httpx.get(served.url + "/vraagbaak/file", params={"source": str(served.docs / SEED.name)},
                     timeout=30).status_code == 401  # the original files too need the sign-in


def test_an_mcp_client_asks_through_serve_with_a_key(served: Served) -> None:
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main() -> tuple[set[str], dict[str, object]]:
        headers = {"Authorization": f"Bearer {served.read}"}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
                Client(streamable_http_client(served.url + "/mcp", http_client=http)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("ask", {"question": SEED_QUESTION})
            assert not result.is_error, result.content
            return tools, dict(result.structured_content or {})

    tools, answer = anyio.run(main)
    assert {"ask", "search_passages", "read_document", "list_documents"} <= tools
    assert answer["answered"] is True and "75.000 euro" in str(answer["answer"])
    for citation in answer["citations"]:  # type: ignore[attr-defined]
        exact(citation)
    assert httpx.post(served.url + "/mcp", json={}, timeout=30).status_code == 401  # no key, no tools


def test_the_logs_never_show_a_key(served: Served) -> None:
    for token in (served.read, served.admin):  # every door sees a key at least once
        assert httpx.get(served.url + "/api/v1/status", timeout=30,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
    httpx.get(served.url + "/api/v1/status", headers={"Authorization": "Bearer vbk_wrong"}, timeout=30)
    served.process.send_signal(signal.SIGTERM)  # as kill and docker stop do; stops as gracefully as Ctrl-C
    assert served.process.wait(timeout=60) == 0
    logged = "".join(served.lines.get_nowait() for _ in range(served.lines.qsize()))
    assert served.read not in logged and served.admin not in logged and "vbk_wrong" not in logged
    assert "Traceback" not in logged
