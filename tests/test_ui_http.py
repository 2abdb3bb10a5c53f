"""The real chat page over HTTP: launched on a loopback port over a real index, driven by gradio_client."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from assistant.assistant import Assistant
from tests.conftest import ANSWER_ALL, SEED, SEED_QUESTION
from tests.fakes import DownAnswerer
from tests.test_loaders import make_pdf
from vraagbaak.server import start as start_server

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


Served = tuple[str, Assistant]


@pytest.fixture
def serve(make_assistant: Callable[..., Assistant]) -> Iterator[Callable[..., Served]]:
    """Start the app over a fresh index holding ``paths``; stops it afterwards."""
    running = []

    def start(paths: list[Path], answerer: object = None) -> Served:
        port = free_port()
        assistant = make_assistant(port=port, answerer=answerer, **ANSWER_ALL)
        if paths:
            assert not assistant.ingest(paths).failed
        running.append(start_server(assistant, port=port, quiet=True))
        return f"http://127.0.0.1:{port}/", assistant

    yield start
    for server in running:
        server.stop()


def ask(url: str, question: str, scope: list[str] | None = None, years: list[str] | None = None,
        types: list[str] | None = None) -> str:
    from gradio_client import Client

    conversation, question_box = Client(url, verbose=False).predict(
        question, scope or [], years or [], types or [], 5, False, api_name="/ask")
    assert question_box == ""  # the box is cleared for the next question
    return str(conversation)


def test_ask_over_http_answers_with_a_citation_to_the_seed(serve: Callable[..., Served],
                                                           docs: Path) -> None:
    url, _ = serve([docs])
    html = ask(url, SEED_QUESTION)
    seed = str((docs / SEED.name).resolve())
    assert "75.000" in html
    cite = html.split('class="vb-cite"', 1)[1].split(">", 1)[0]
    assert f'data-source="{seed}"' in cite  # the [1] in the answer opens the seed document
    assert SEED.name in html.split('class="vb-sources"', 1)[1]  # and its source card names the file


def test_scope_restricts_the_answer_to_the_chosen_documents(serve: Callable[..., Served],
                                                            docs: Path) -> None:
    url, assistant = serve([docs])
    others = [s for s in assistant.documents() if not s.endswith(SEED.name)]
    html = ask(url, SEED_QUESTION, scope=others)
    assert SEED.name not in html and "75.000" not in html
    assert "data-source" in html  # still answers (or refuses) from the scoped documents' passages


def test_scope_by_year_and_type_over_http(serve: Callable[..., Served], docs: Path) -> None:
    url, assistant = serve([docs])
    seed = next(s for s in assistant.documents() if s.endswith(SEED.name))
    html = ask(url, SEED_QUESTION, years=["2017"])  # the seed states no date: it is not in 2017
    assert SEED.name not in html and "75.000" not in html and "bekamer_" in html
    html = ask(url, SEED_QUESTION, types=["txt"])
    assert "75.000" in html
    html = ask(url, SEED_QUESTION, [seed], years=["2017"])  # no document: said plainly, nothing retrieved
    assert "no indexed document is in the chosen scope" in html and "years 2017" in html
    assert "data-source" not in html


def test_file_route_serves_only_ingested_files(serve: Callable[..., Served], docs: Path) -> None:
    url, _ = serve([docs])
    seed = (docs / SEED.name).resolve()
    (docs / "later.txt").write_text("not ingested", encoding="utf-8")
    route = url + "vraagbaak/file?source="

    status, body, headers = get(route + quote(str(seed), safe=""))
    assert status == 200 and body == seed.read_bytes()
    assert headers["content-type"].startswith("text/plain")
    assert headers["content-security-policy"] == "sandbox" and headers["x-content-type-options"] == "nosniff"

    refused = ["/etc/passwd", str(docs / "later.txt"), f"{docs}/../docs/{SEED.name}",
               f"{docs}/../../../../../../etc/passwd", str(seed.parent), "", f"{seed}\x00.txt"]
    for source in refused:
        status, body, _ = get(route + quote(source, safe=""))
        assert status in (403, 404), source
        assert b"root:" not in body and b"not ingested" not in body
    status, _, _ = get(url + "vraagbaak/file/..%2F..%2F..%2Fetc%2Fpasswd")
    assert status in (403, 404)


def test_empty_index_explains_how_to_add_documents(serve: Callable[..., Served]) -> None:
    url, _ = serve([])
    html = ask(url, SEED_QUESTION)
    assert "vraagbaak ingest PATH" in html and 'role="alert"' in html


def test_backend_down_shows_the_error_and_the_retrieved_passages(serve: Callable[..., Served],
                                                                 docs: Path) -> None:
    url, _ = serve([docs], answerer=DownAnswerer())
    html = ask(url, SEED_QUESTION)
    assert "connection refused by http://127.0.0.1:9/v1" in html and 'role="alert"' in html
    assert html.count('class="vb-card"') == 5  # every retrieved passage is still there to read
    assert SEED.name in html


def test_a_pdf_citation_names_its_page_and_the_route_serves_the_pdf(serve: Callable[..., Served],
                                                                    tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    pdf = folder / "jaarverslag.pdf"
    pdf.write_bytes(make_pdf([
        "Jaarverslag van de havendienst\n" + "\n".join(
            f"Paragraaf {i}: de haven werd dit jaar opnieuw gebaggerd en de kades zijn hersteld." for i in range(30)),
        "Tellingen\nDe havendienst telde in 2019 precies 4.321 zeeschepen in de haven van Harlingen.",
    ]))
    url, _ = serve([folder])
    html = ask(url, "Hoeveel zeeschepen telde de havendienst in Harlingen?")
    card = html.split('class="vb-sources"', 1)[1].split("</article>", 1)[0]
    assert "4.321" in card and "p. 2" in card and "jaarverslag.pdf" in card

    status, body, headers = get(url + "vraagbaak/file?source=" + quote(str(pdf.resolve()), safe=""))
    assert status == 200 and body == pdf.read_bytes() and headers["content-type"] == "application/pdf"
