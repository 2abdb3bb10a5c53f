"""The chat page in a real browser: headless Debian Chromium driven by Playwright over the real app."""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.assistant import Assistant
from assistant.settings import Settings
from tests.conftest import SEED, SEED_QUESTION, SMALL_SET
from vraagbaak.compose import build_assistant
from vraagbaak.server import start

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
HOSTILE_SCRIPT = "<script>window.__pwned=1</script>"
HOSTILE_IMG = '<img src=x onerror="window.__pwned=1">'
HOSTILE_NAME = "gevaar<img src=x onerror=window.__pwned=2>.txt"
NEW_FACT = ("Vuurtorenwachter Barend Kwakkel van de Brandaris telde in het jaar 2019 precies 4.321 passerende "
            "schepen op de Waddenzee, meldt het havenbedrijf van Terschelling.")


class App:
    """The running app: its URL, its assistant, and the folder its documents came from."""

    def __init__(self, url: str, assistant: Assistant, docs: Path, data_dir: Path) -> None:
        self.url, self.assistant, self.docs, self.data_dir = url, assistant, docs, data_dir


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, minilm: str, embedding_cache: Path) -> Iterator[App]:
    root = tmp_path_factory.mktemp("browser")
    docs = root / "docs"
    docs.mkdir()
    for path in (SEED, *SMALL_SET[:2]):
        shutil.copy(path, docs)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    # MiniLM's similarities sit far below the e5-calibrated refusal thresholds: answer what is retrieved
    settings = Settings(data_dir=root / "index", embedder=minilm, embedding_cache_dir=embedding_cache, port=port,
                        refuse_threshold=-10.0, refuse_foreign=-10.0)
    assistant = build_assistant(settings)
    assert not assistant.ingest([docs]).failed
    server = start(assistant, port=port, quiet=True)
    yield App(f"http://127.0.0.1:{port}/", assistant, docs, settings.data_dir)
    server.stop()
    assistant.index.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install it with `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, app: App, locale: str = "nl-NL") -> Any:
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app.url)
    page.wait_for_selector("#vb-header .vb-status")  # the session's load events have run
    return page


def ask(page: Any, question: str) -> Any:
    """Type a question, send it with Enter, and return the finished turn."""
    done = page.locator(".vb-turn .vb-meta").count()
    page.fill("#vb-question textarea", question)
    page.press("#vb-question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('.vb-turn .vb-meta').length > {done}")
    return page.locator(".vb-turn").last


def set_number(field: Any, value: str, tries: int = 3) -> None:
    """Type ``value`` into a number field and leave it, as a user does, until the field holds it.

    The settings' slider is mounted when its accordion first opens; on a loaded machine Gradio
    sometimes set a value typed right after the mount back to the start value (k 2 -> 5, about one
    run in four with the cores busy). A user sees that and types again; so does this, a few times.
    """
    for _ in range(tries):
        field.fill(value)
        field.press("Tab")  # leaving the field commits its value in the window (Enter alone did not always)
        if field.input_value() == value:
            return
    raise AssertionError(f"the field kept {field.input_value()!r} after {tries} tries to type {value!r}")


def tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def rows(page: Any, count: int, timeout: float = 60_000) -> None:
    """Wait until the documents table shows ``count`` rows."""
    page.wait_for_function(f"document.querySelectorAll('#vb-documents tbody tr').length === {count}",
                           timeout=timeout)


def refreshed(page: Any, documents: int) -> None:
    """Wait until the header counts ``documents``: the refresh after an index change has reached the page.

    An upload's or a sync's report is its own output; the header, table and filters are redrawn by
    the step after it, which is what a test must wait for before it filters the table.
    """
    page.wait_for_function("n => document.querySelector('#vb-header .vb-status').innerText.startsWith(n + ' ')",
                           arg=f"{documents:,}")


def squash(text: str) -> str:
    return " ".join(text.split())


def test_ask_then_click_a_citation_highlights_the_passage(browser: Any, app: App) -> None:
    page = open_page(browser, app)
    page.fill("#vb-question textarea", "eerste regel")
    page.press("#vb-question textarea", "Shift+Enter")
    page.keyboard.type("tweede regel")
    assert page.input_value("#vb-question textarea") == "eerste regel\ntweede regel"  # Shift+Enter: new line
    assert page.locator(".vb-turn").count() == 0  # ... and nothing was sent

    turn = ask(page, SEED_QUESTION)
    assert "75.000" in turn.locator(".vb-answer").inner_text()
    assert re.search(r"\d+\.\d s · \d+ van \d+ passages gebruikt", turn.locator(".vb-meta").inner_text())
    cite = turn.locator("button.vb-cite").first
    n = int(cite.inner_text().strip("[]"))
    card_text = turn.locator(".vb-sources > .vb-card").first.locator(".vb-text").inner_text()
    cite.click()

    mark = page.locator("#vb-panel mark#vb-hit")
    mark.wait_for(state="visible")
    assert squash(mark.inner_text()) == squash(card_text) and "75.000" in mark.inner_text()
    # the sentence the answer quoted carries a stronger mark inside the passage's
    quote = mark.locator("mark.vb-quote")
    assert quote.count() == 1 and "75.000" in quote.inner_text()
    assert squash(quote.inner_text()) in squash(turn.locator(".vb-answer").inner_text())
    assert SEED.name in page.locator("#vb-panel .vb-path").inner_text()
    pane, box = page.locator("#vb-panel .vb-doc").bounding_box(), mark.bounding_box()
    assert pane["y"] <= box["y"] < pane["y"] + pane["height"]  # scrolled into view inside the panel
    assert page.locator("#vb-panel .vb-context-card").count() >= 1  # neighbouring passages
    assert f"[{n}]" in turn.locator(".vb-sources > .vb-card").first.inner_text()

    href = page.locator("#vb-panel a.vb-original").get_attribute("href")
    response = page.request.get(app.url + href)
    assert response.status == 200 and "OTA" in response.text()
    page.context.close()


def test_upload_then_ask_a_question_only_the_new_document_answers(browser: Any, app: App,
                                                                  tmp_path: Path) -> None:
    page = open_page(browser, app)
    assert "4.321" not in ask(page, "Hoeveel schepen telde vuurtorenwachter Barend Kwakkel?").inner_text()
    new = tmp_path / "vuurtoren.txt"
    new.write_text(f"Tellingen op de Waddenzee\n\n{NEW_FACT}\n", encoding="utf-8")
    other = tmp_path / "notitie.md"
    other.write_text("# Notitie\n\nEen korte notitie zonder cijfers.\n", encoding="utf-8")

    tab(page, "Documenten")
    before = app.assistant.document_count()
    page.set_input_files("#vb-upload input[type=file]", [str(new), str(other)])
    refreshed(page, before + 2)
    assert re.search(r"2\s*toegevoegd", page.locator("#vb-report").inner_text())
    assert (app.data_dir / "uploads" / "vuurtoren.txt").read_text(encoding="utf-8") == new.read_text(
        encoding="utf-8")
    page.fill("#vb-search textarea, #vb-search input", "vuurtoren")
    rows(page, 1)
    assert "uploads/vuurtoren.txt" in page.locator("#vb-documents").inner_text()

    tab(page, "Vragen")
    turn = ask(page, "Hoeveel schepen telde vuurtorenwachter Barend Kwakkel?")
    assert "4.321" in turn.locator(".vb-answer").inner_text()
    assert "vuurtoren.txt" in turn.locator(".vb-sources > .vb-card").first.inner_text()

    tab(page, "Documenten")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#vb-documents button.vb-danger").first.click()
    refreshed(page, before + 1)
    rows(page, 0)
    assert str(new.name) not in "".join(app.assistant.documents())
    assert not (app.data_dir / "uploads" / "vuurtoren.txt").exists()  # our copy goes too: sync won't revive it
    page.context.close()


def test_hostile_document_is_shown_as_text_and_never_runs(browser: Any, app: App) -> None:
    (app.docs / HOSTILE_NAME).write_text(
        f"Gevaarlijk document {HOSTILE_SCRIPT}\n\nDe penningmeester van de schaakclub heet "
        f"{HOSTILE_IMG} Jozefien Verstraete.\n", encoding="utf-8")
    page = open_page(browser, app)
    tab(page, "Documenten")
    before = app.assistant.document_count()
    page.get_by_role("button", name="Nu synchroniseren").click()
    refreshed(page, before + 1)
    assert re.search(r"1\s*toegevoegd", page.locator("#vb-report").inner_text())
    page.fill("#vb-search textarea, #vb-search input", "gevaarlijk")
    rows(page, 1)
    table = page.locator("#vb-documents").inner_text()
    assert HOSTILE_SCRIPT in table and HOSTILE_NAME in table  # title and file name, literally
    page.locator("#vb-documents button.vb-link").first.click()
    page.wait_for_function("document.querySelector('#vb-panel .vb-doc')")
    panel = page.locator("#vb-panel .vb-doc").inner_text()
    assert HOSTILE_SCRIPT in panel and HOSTILE_IMG in panel

    tab(page, "Vragen")
    turn = ask(page, f"Hoe heet de penningmeester van de schaakclub? {HOSTILE_SCRIPT}")
    assert HOSTILE_SCRIPT in turn.locator(".vb-user").inner_text()
    assert HOSTILE_IMG in (turn.text_content() or "")  # the passage, in a source card, as text
    page.wait_for_timeout(500)  # give an injected handler every chance to fire
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#vb-panel img, #vb-conversation img, #vb-documents img").count() == 0
    page.context.close()


def test_two_sessions_keep_their_own_settings_and_chat(browser: Any, app: App) -> None:
    first = open_page(browser, app, locale="en-US")
    second = open_page(browser, app, locale="nl-NL")
    assert first.get_by_role("tab", name="Ask").is_visible()  # language from the browser
    assert second.get_by_role("tab", name="Vragen").is_visible()

    first.get_by_text("Settings (this window only)").click()
    k = first.locator("#vb-k input[type=number]")
    set_number(k, "2")
    first.locator("#vb-scores input[type=checkbox]").check()
    assert k.input_value() == "2"  # still: the question sends what the window shows
    # no wait: the question carries the settings the window shows, however busy the server is
    turn = ask(first, SEED_QUESTION)
    assert re.search(r"used \d of 2 passages", turn.locator(".vb-meta").inner_text())
    assert "score 0." in turn.inner_text()

    assert second.locator(".vb-turn").count() == 0  # the other window's chat is untouched
    second.get_by_text("Instellingen (alleen voor dit venster)").click()
    assert second.locator("#vb-k input[type=number]").input_value() == "5"
    assert not second.locator("#vb-scores input[type=checkbox]").is_checked()
    turn = ask(second, SEED_QUESTION)
    assert re.search(r"\d van 5 passages gebruikt", turn.locator(".vb-meta").inner_text())
    assert "score 0." not in turn.inner_text()

    second.locator("#vb-language").get_by_text("English").click()
    second.get_by_role("tab", name="Ask").wait_for()
    assert first.locator(".vb-turn").count() == 1 and "used" in first.locator(".vb-meta").inner_text()
    first.context.close()
    second.context.close()


def test_a_question_scoped_to_a_year_leaves_undated_documents_out(browser: Any, app: App) -> None:
    page = open_page(browser, app, locale="en-GB")
    page.locator("#vb-scope-years input").click()
    page.get_by_role("option", name="2017").click()
    page.keyboard.press("Escape")
    turn = ask(page, SEED_QUESTION)
    sources = turn.locator(".vb-sources").inner_text()
    assert SEED.name not in sources and "bekamer_" in sources  # the seed states no date
    assert "75.000" not in turn.locator(".vb-answer").inner_text()
    assert "only in: 2017" in turn.locator(".vb-meta").inner_text()  # the answer says it was scoped
    page.context.close()


def test_ask_about_one_document_from_the_documents_tab(browser: Any, app: App) -> None:
    page = open_page(browser, app)
    other = SMALL_SET[0]
    tab(page, "Documenten")
    page.fill("#vb-search textarea, #vb-search input", other.stem)
    rows(page, 1)
    page.locator("#vb-documents button[data-action=scope]").click()
    page.get_by_role("tab", name="Vragen", selected=True).wait_for()  # back on the chat tab
    assert other.name in page.locator("#vb-scope").inner_text()  # the picker shows the choice
    turn = ask(page, SEED_QUESTION)
    cards = turn.locator(".vb-sources > .vb-card")
    assert cards.count() >= 1 and all(other.name in c for c in cards.all_inner_texts())
    assert f"alleen in: {other.name}" in turn.locator(".vb-meta").inner_text()
    assert "75.000" not in turn.locator(".vb-answer").inner_text()
    # refused (OTA and WVG are not in that document): the refusal says the search was limited,
    # and how to search everything, not only a small grey "alleen in"
    note = turn.locator(".vb-scope-note")
    assert note.is_visible() and f"Er is alleen gezocht in {other.name}" in note.inner_text()
    assert "in alle documenten te zoeken" in note.inner_text()
    page.context.close()


def test_a_failed_upload_is_named_once_as_uploaded_in_a_table_that_fits_its_card(
        browser: Any, app: App, tmp_path: Path) -> None:
    page = open_page(browser, app)
    tab(page, "Documenten")
    empty = tmp_path / "lege-notulen.txt"
    empty.write_bytes(b"")
    good = tmp_path / "ijsbaan.md"
    good.write_text("# IJsbaan\n\nDe ijsbaan van Heerenveen opent op 1 november.\n", encoding="utf-8")
    before = app.assistant.document_count()
    page.set_input_files("#vb-upload input[type=file]", [str(empty), str(good)])
    refreshed(page, before + 1)
    report = page.locator("#vb-report")
    assert re.search(r"1\s*toegevoegd", report.inner_text()) and re.search(r"1\s*mislukt", report.inner_text())
    table = report.locator("table.vb-failed")
    assert table.locator("th").all_inner_texts() == ["Bestand", "Reden"]  # the header over its own column
    cells = table.locator("tbody td").all_inner_texts()
    assert cells[0] == empty.name and "empty file" in cells[1]  # named once, as uploaded
    assert "uploads" not in report.inner_text() and ".vraagbaak" not in report.inner_text()
    card, box, name = report.bounding_box(), table.bounding_box(), table.locator("td").first.bounding_box()
    assert box["x"] + box["width"] <= card["x"] + card["width"] + 1  # the table stays inside its card
    assert name["height"] < 3 * 24  # the name is not wrapped letter by letter down the page
    assert not (app.data_dir / "uploads" / empty.name).exists()  # the failed copy is dropped
    page.fill("#vb-search textarea, #vb-search input", "ijsbaan")
    rows(page, 1)
    assert page.locator("#vb-page-label").inner_text().strip() == "Pagina 1 van 1 · 1 document"
    app.assistant.remove(app.data_dir / "uploads" / good.name)
    (app.data_dir / "uploads" / good.name).unlink()
    page.context.close()


def test_documents_tab_filters_by_year(browser: Any, app: App) -> None:
    page = open_page(browser, app)
    tab(page, "Documenten")
    page.wait_for_function("document.querySelectorAll('#vb-documents tbody tr').length > 1")
    page.locator("#vb-year input").click()
    page.get_by_role("option", name="Zonder datum").click()
    page.wait_for_function("!document.querySelector('#vb-documents').innerText.includes('bekamer_')")
    assert SEED.name in page.locator("#vb-documents").inner_text()  # the seed states no date
    page.locator("#vb-year input").click()
    page.get_by_role("option", name="2017").click()
    page.wait_for_function("!document.querySelector('#vb-documents').innerText.includes('000_f1983a13')")
    assert "bekamer_" in page.locator("#vb-documents").inner_text()
    page.context.close()


def test_a_filter_typed_while_the_table_is_redrawn_after_an_upload_is_kept(
        browser: Any, app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table follows the last filter even when it was typed while the page was still refreshing.

    A slow ``status`` (a loaded machine) holds the redraw after the upload; the search typed
    meanwhile must not be replaced by the table (and query) the redraw began with.
    """
    status = app.assistant.status

    def slow_status() -> dict[str, object]:
        time.sleep(2)
        return status()

    page = open_page(browser, app)
    tab(page, "Documenten")
    rows(page, app.assistant.document_count())
    new = tmp_path / "kabeljauw.txt"
    new.write_text("Kabeljauwvangst\n\nDe vangst van kabeljauw op de Doggersbank daalde.\n", encoding="utf-8")
    before = app.assistant.document_count()
    monkeypatch.setattr(app.assistant, "status", slow_status)
    page.set_input_files("#vb-upload input[type=file]", [str(new)])
    # the upload's own report (a run's report from the index carries its time): the redraw has begun
    page.wait_for_function("document.querySelector('#vb-report .vb-chips') && "
                           "!document.querySelector('#vb-report .vb-when')")
    page.fill("#vb-search textarea, #vb-search input", "kabeljauw")  # the redraw is still running
    refreshed(page, before + 1)
    rows(page, 1, timeout=20_000)
    assert "uploads/kabeljauw.txt" in page.locator("#vb-documents").inner_text()
    monkeypatch.undo()
    app.assistant.remove(app.data_dir / "uploads" / new.name)
    (app.data_dir / "uploads" / new.name).unlink()
    page.context.close()
