"""Build questions.jsonl for the GIMP collection: a held-out check, written once and never tuned on.

Debian's gimp-help-nl (``apt install gimp-help-nl``) ships GIMP 2.10's manual as DocBook HTML, part
Dutch and part untranslated English: the kind of documentation the hidden collection is. The 37
pages in ``PAGES`` are indexed from where the package puts them (nothing is copied here). The
questions and gold passages were written by hand from reading the pages as vraagbaak loads them,
before any retrieval was run over them, and the figures are reported as they came (see README).

    .venv/bin/python eval/gimp/build.py
    vraagbaak ingest $(.venv/bin/python eval/gimp/build.py --files) --data-dir G
    vraagbaak eval eval/gimp/questions.jsonl --data-dir G
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest.loaders import load  # noqa: E402

DOCS = Path("/usr/share/gimp/2.0/help/nl")
OUT = Path(__file__).resolve().parent / "questions.jsonl"
PAGES = """gimp-concepts-brushes gimp-concepts-docks gimp-concepts-gradients gimp-concepts-image-grid-and-guides
gimp-concepts-image-guides gimp-concepts-layer-modes-legacy gimp-concepts-layer-modes gimp-concepts-main-windows
gimp-concepts-palettes gimp-concepts-patterns gimp-tool-airbrush gimp-tool-align gimp-tool-brightness-contrast
gimp-tool-bucket-fill gimp-tool-clone gimp-tool-color-picker gimp-tool-crop gimp-tool-curves gimp-tool-dodge-burn
gimp-tool-ellipse-select gimp-tool-eraser gimp-tool-flip gimp-tool-free-select gimp-tool-fuzzy-select
gimp-tool-heal gimp-tool-levels gimp-tool-measure gimp-tool-move gimp-tool-paintbrush gimp-tool-pencil
gimp-tool-rect-select gimp-tool-rotate gimp-tool-scale gimp-tool-smudge gimp-tool-text gimp-tool-threshold
gimp-tool-zoom""".split()

# (page, style, lang, question, gold_answer, gold_passage)
ANSWERABLE: list[tuple[str, str, str, str, str, str]] = [
    ("gimp-tool-crop", "paraphrase", "nl",
     "Hoe verplaats ik het bijsnijkader met de pijltjestoetsen in grotere stappen?", "25",
     "Holding the Shift key down allows to move by increments of 25 pixels."),
    ("gimp-tool-crop", "informal", "nl",
     "waarom blijft mijn canvas even groot na het bijsnijden in gimp", "canvas size isn't changed",
     "A fairly recent change in GIMP is that by default the image canvas size isn't changed after cropping."),
    ("gimp-tool-crop", "terse", "nl", "sneltoets bijsnijden", "Shift+C",
     "by using the keyboard shortcut Shift+C."),
    ("gimp-tool-fuzzy-select", "paraphrase", "nl", "Met welke toets kies ik de toverstaf?", "U",
     "by using the keyboard shortcut U."),
    ("gimp-tool-fuzzy-select", "english", "en", "How do I move the outline of a magic wand selection?",
     "Alt + arrow keys", "You can move the selection outline using Alt + arrow keys."),
    ("gimp-tool-measure", "paraphrase", "nl",
     "Sinds welke versie van GIMP kan ik een scheve horizon met één knop rechtzetten?", "2.10.4",
     "Sinds GIMP-2.10.4 hoef je daarna niet meer die rotatie nog handmatig uit te voeren, maar kun je "
     "eenvoudig de knop Rechtzetten indrukken."),
    ("gimp-tool-measure", "terse", "nl", "passer ctrl lijn beperkt tot graden", "15 graden",
     "De richting van de lijn wordt beperkt tot veelvouden van 15 graden."),
    ("gimp-tool-zoom", "paraphrase", "nl", "Hoe keer ik bij het zoomgereedschap de richting even om?", "Ctrl",
     "De Ctrl vasthouden terwijl je in de afbeelding klikt zal de richting van zoomen omwisselen."),
    ("gimp-tool-zoom", "informal", "nl", "doet die optie venster automatisch aanpassen bij zoomen eigenlijk wel iets?",
     "niet", "Met deze optie zou de afbeelding of het venster automatisch van grootte moeten veranderen met het "
     "zoom niveau, maar dat blijkt (nog) niet te gebeuren."),
    ("gimp-concepts-palettes", "paraphrase", "nl", "Hoeveel kleuren mag een geïndexeerde afbeelding hooguit hebben?",
     "256", "Ze vormen de kleurenkaart van geïndexeerde afbeeldingen; een geïndexeerde afbeelding kan maximaal 256 "
     "verschillende kleuren gebruiken."),
    ("gimp-concepts-palettes", "english", "en", "Can I change the palettes that come with GIMP?", "kopiëren",
     "De meegeleverde paletten kun je niet wijzigen; je kunt ze kopiëren en deze kopieën kun je bewerken."),
    ("gimp-concepts-palettes", "paraphrase", "nl",
     "Hoe maak ik een kleur uit de paletbewerker tot achtergrondkleur?", "Ctrl",
     "Als je de Ctrl toets hierbij ingedrukt houdt, wordt de kleur als achtergrondkleur ingesteld."),
    ("gimp-tool-heal", "terse", "nl", "sneltoets repareren", "H", "of door het gebruik van de sneltoets H."),
    ("gimp-tool-heal", "paraphrase", "nl", "Wie bedacht het algoritme achter het gereedschap Repareren?",
     "Todor Georgiev", "Het algoritme dat hiervoor wordt gebruikt, staat beschreven in een wetenschappelijk "
     "artikel door Todor Georgiev [GEORGIEV01]."),
    ("gimp-tool-eraser", "informal", "nl", "mijn gum maakt de achtergrond wit ipv doorzichtig, hoe kan dat",
     "alfakanaal", "De achtergrondkleur is wit. De afbeelding heeft geen Alfakanaal. Het Gum (Dekking 100%) "
     "produceert de AG-kleur."),
    ("gimp-tool-bucket-fill", "paraphrase", "nl", "Hoe vul ik met de emmer met de achtergrondkleur in plaats van de "
     "voorgrondkleur?", "Ctrl+click", "Als u Ctrl+click gebruikt zal het in plaats daarvan de achtergrondkleur "
     "gebruiken."),
    ("gimp-tool-text", "terse", "nl", "sneltoets tekstgereedschap", "T", "of door de sneltoets T in te drukken."),
    ("gimp-concepts-brushes", "paraphrase", "nl", "Hoeveel soorten tekengereedschap met penselen heeft GIMP?", "10",
     "GIMP biedt 10 soorten penseel-tekengereedschappen die niet alleen teken-, maar ook wis-, kopieer-, "
     "uitsmeer-, verlicht- en helderheidsmogelijkheden bieden."),
    ("gimp-tool-threshold", "english", "en", "What does the Threshold filter turn my layer into?", "black and white",
     "The Threshold filter transforms the current layer or the selection into a black and white image, where white "
     "pixels represent the pixels of the image where the value for the chosen Channel is in the threshold range, "
     "and black pixels represent pixels with a value outside the threshold range."),
    ("gimp-concepts-docks", "paraphrase", "nl", "Kan de gereedschapskist in een dok als tabblad?", "nooit",
     "De gereedschapskist zit nooit op een tabblad dus niet in een dok maar in zijn eigen (deel-)venster."),
]

UNANSWERABLE: list[tuple[str, str, str]] = [
    ("paraphrase", "nl", "Hoe maak ik in GIMP een animatie van meerdere lagen als GIF?"),
    ("terse", "nl", "sneltoets laag dupliceren"),
    ("english", "en", "How do I remove the red-eye effect from a photo in GIMP?"),
    ("paraphrase", "nl", "Hoeveel geheugen heeft GIMP minimaal nodig om te draaien?"),
    ("informal", "nl", "kan gimp ook psd bestanden van photoshop openen?"),
    ("paraphrase", "nl", "Hoe installeer ik extra lettertypen voor het tekstgereedschap op Windows?"),
    ("english", "en", "Which Python version do GIMP plug-ins need?"),
    ("paraphrase", "nl", "Welke toetscombinatie zet het raster van de afbeelding aan en uit?"),
    ("informal", "nl", "hoe zet ik de taal van gimp op engels"),
    ("paraphrase", "nl", "In welk jaar verscheen de eerste versie van GIMP?"),
]


def files() -> list[Path]:
    """The collection's pages, where gimp-help-nl installs them."""
    return [DOCS / f"{page}.html" for page in PAGES]


def main() -> None:
    """Write questions.jsonl (gold offsets looked up in the loaded pages), or with --files list the pages."""
    if "--files" in sys.argv:
        print("\n".join(str(p) for p in files()))
        return
    missing = [p for p in files() if not p.exists()]
    if missing:
        sys.exit(f"{missing[0]} is missing: apt install gimp-help-nl")
    records = []
    for n, (page, style, lang, question, answer, passage) in enumerate(ANSWERABLE, 1):
        path = DOCS / f"{page}.html"
        text = load(path).text
        start = text.find(passage)
        if start < 0 or text.find(passage, start + 1) >= 0:
            sys.exit(f"gim-{n:03d}: the gold passage must occur exactly once in {path}")
        records.append({"id": f"gim-{n:03d}", "question": question, "lang": lang, "style": style, "answerable": True,
                        "gold_doc": page, "gold_path": str(path), "gold_start": start,
                        "gold_end": start + len(passage), "gold_passage": passage, "gold_answer": answer})
    for n, (style, lang, question) in enumerate(UNANSWERABLE, 1):
        records.append({"id": f"gim-u{n:02d}", "question": question, "lang": lang, "style": style,
                        "answerable": False})
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()
