"""A synthetic corpus of Dutch-like parliamentary written questions, deterministic by seed, at any size.

Each document is a set of numbered questions by a member to a minister, with the minister's
numbered answers, a submission date (its year), a topic and a file type; folders group them by
ministry and year as an archive would. ``documents`` yields them, ``passages`` yields one passage
per answer (what vraagbaak's dense leg holds for such documents), ``write`` puts the documents on
disk as files that ``vraagbaak ingest`` reads.

    python benchmarks/synthetic_corpus.py OUT_DIR --documents 2000 --seed 7
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FIRST_YEAR, LAST_YEAR = 1995, 2026
TYPES = ("txt", "pdf", "docx", "html", "md")
TYPE_WEIGHTS = (0.55, 0.25, 0.1, 0.07, 0.03)
MINISTRIES = {
    "BZK": ("Binnenlandse Zaken en Koninkrijksrelaties", ["gemeente", "provincie", "woningbouw", "huurtoeslag",
                                                          "verkiezingen", "ambtenaren", "wijkaanpak"]),
    "EZK": ("Economische Zaken en Klimaat", ["gaswinning", "windpark", "netcongestie", "subsidie", "mkb",
                                            "waterstof", "energierekening"]),
    "FIN": ("Financiën", ["belastingdienst", "toeslagen", "btw", "staatsschuld", "banken", "box 3", "douane"]),
    "IenW": ("Infrastructuur en Waterstaat", ["spoorlijn", "snelweg", "dijkversterking", "Schiphol", "stikstof",
                                             "veerdienst", "drinkwater"]),
    "JenV": ("Justitie en Veiligheid", ["politie", "rechtspraak", "gevangeniswezen", "cybercriminaliteit",
                                       "asielzoekers", "slachtofferhulp", "ondermijning"]),
    "OCW": ("Onderwijs, Cultuur en Wetenschap", ["lerarentekort", "studiefinanciering", "basisschool",
                                                "monumenten", "universiteiten", "inburgering", "musea"]),
    "SZW": ("Sociale Zaken en Werkgelegenheid", ["bijstand", "AOW", "minimumloon", "arbeidsmigratie",
                                                "kinderopvang", "pensioenen", "re-integratie"]),
    "VWS": ("Volksgezondheid, Welzijn en Sport", ["ziekenhuis", "jeugdzorg", "huisartsen", "mantelzorg",
                                                 "geneesmiddelen", "wachtlijsten", "sportclubs"]),
    "LNV": ("Landbouw, Natuur en Voedselkwaliteit", ["veehouderij", "mestbeleid", "natuurherstel", "visserij",
                                                     "dierenwelzijn", "glastuinbouw", "bosbeheer"]),
    "DEF": ("Defensie", ["kazerne", "materieel", "reservisten", "missie", "vliegbasis", "marine", "veteranen"]),
}
PARTIES = ["VVD", "PvdA", "CDA", "D66", "GroenLinks", "SP", "ChristenUnie", "SGP", "PVV", "PvdD", "JA21", "BBB"]
SURNAMES = ["de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
            "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit"]
PLACES = ["Groningen", "Zwolle", "Utrecht", "Tilburg", "Eindhoven", "Leeuwarden", "Arnhem", "Maastricht",
          "Den Helder", "Almere", "Rotterdam", "Assen", "Middelburg", "Venlo", "Hoorn", "Deventer"]
QUESTION_FORMS = [
    "Bent u bekend met het bericht dat {topic} in {place} {amount} euro kost?",
    "Hoeveel {topic}projecten zijn er sinds {year} in {place} gestart?",
    "Kunt u aangeven waarom de {topic} in {place} is vertraagd?",
    "Wat is de stand van zaken rond {topic} in de regio {place}?",
    "Deelt u de mening dat {topic} meer aandacht verdient, gelet op de situatie in {place}?",
    "Welke maatregelen neemt u om de gevolgen van {topic} voor inwoners van {place} te beperken?",
]
ANSWER_FORMS = [
    "Ja, ik ben bekend met het bericht. De kosten voor {topic} in {place} bedragen {amount} euro, "
    "waarvan het Rijk {share} procent draagt.",
    "Sinds {year} zijn in {place} {count} projecten op het gebied van {topic} gestart; {done} daarvan "
    "zijn afgerond.",
    "De vertraging bij {topic} in {place} is het gevolg van een tekort aan personeel en materiaal. "
    "Naar verwachting wordt de achterstand in {next_year} ingelopen.",
    "Over {topic} in de regio {place} is op {day} {month} {year} overleg gevoerd met de betrokken "
    "partijen. De Kamer wordt voor de zomer geïnformeerd.",
    "Ik deel de mening dat {topic} aandacht verdient. Daarom is voor {place} {amount} euro "
    "vrijgemaakt voor de periode tot {next_year}.",
    "Het kabinet neemt drie maatregelen: extra toezicht, een regeling voor getroffen inwoners van "
    "{place} en een evaluatie van {topic} in {next_year}.",
]
MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
          "oktober", "november", "december"]


@dataclass(frozen=True)
class SyntheticPassage:
    """One answer of a document: what the dense leg stores for it."""

    passage_id: str
    source: str
    folder: str
    year: int
    doc_type: str
    topic: int  # index into ``topics()``: the cluster its vector is drawn around
    text: str


@dataclass(frozen=True)
class SyntheticDocument:
    """One set of written questions and its answers."""

    source: str  # a relative path: ``MINISTRY/YEAR/kv-YEAR-N.TYPE``
    folder: str
    year: int
    doc_type: str
    topic: int
    text: str
    answers: tuple[str, ...]

    def passages(self) -> list[SyntheticPassage]:
        """One passage per numbered answer."""
        return [SyntheticPassage(f"{self.source}#{n}", self.source, self.folder, self.year, self.doc_type,
                                 self.topic, answer) for n, answer in enumerate(self.answers, 1)]


def topics() -> list[tuple[str, str]]:
    """Every (ministry code, topic word): the topic vocabulary, also the vector clusters."""
    return [(code, word) for code, (_, words) in MINISTRIES.items() for word in words]


def documents(seed: int = 0, count: int | None = None) -> Iterator[SyntheticDocument]:
    """``count`` documents (endless when None), the same for the same seed."""
    rng = random.Random(seed)
    vocabulary = topics()
    n = 0
    while count is None or n < count:
        n += 1
        topic = rng.randrange(len(vocabulary))
        code, word = vocabulary[topic]
        year = rng.randint(FIRST_YEAR, LAST_YEAR)
        doc_type = rng.choices(TYPES, TYPE_WEIGHTS)[0]
        member = f"{rng.choice(SURNAMES)} ({rng.choice(PARTIES)})"
        date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        questions, answers = [], []
        for q in range(1, rng.randint(4, 16) + 1):
            form = rng.randrange(len(QUESTION_FORMS))
            values = {"topic": word, "place": rng.choice(PLACES), "amount": f"{rng.randint(1, 900)}.000",
                      "year": year - rng.randint(0, 5), "share": rng.randint(10, 90),
                      "count": rng.randint(2, 60), "done": rng.randint(0, 2), "next_year": year + rng.randint(1, 3),
                      "day": rng.randint(1, 28), "month": rng.choice(MONTHS)}
            questions.append(f"Vraag {q}\n{QUESTION_FORMS[form].format(**values)}")
            answers.append(f"Antwoord {q}\n{ANSWER_FORMS[form].format(**values)}")
        minister = MINISTRIES[code][0]
        text = (f"Vragen van het lid {member} aan de minister van {minister} over {word}\n"
                f"Datum indiening: {date}\n\n" + "\n\n".join(questions)
                + f"\n\nAntwoord van de minister van {minister}\n\n" + "\n\n".join(answers) + "\n")
        folder = f"{code}/{year}"
        yield SyntheticDocument(f"{folder}/kv-{year}-{n:07d}.{doc_type}", folder, year, doc_type, topic,
                                text, tuple(answers))


def passages(seed: int = 0, count: int | None = None) -> Iterator[SyntheticPassage]:
    """The first ``count`` passages of ``documents(seed)`` (endless when None); the last document may be cut."""
    made = 0
    for document in documents(seed):
        for passage in document.passages():
            if count is not None and made >= count:
                return
            made += 1
            yield passage


def write(out: Path, count: int, seed: int = 0) -> int:
    """Write ``count`` documents under ``out`` as UTF-8 text (every type as .txt, for ``ingest``); return passages."""
    total = 0
    for document in documents(seed, count):
        path = out / Path(document.source).with_suffix(".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document.text, encoding="utf-8")
        total += len(document.answers)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    total = write(args.out, args.documents, args.seed)
    print(f"wrote {args.documents:,} documents ({total:,} answers) under {args.out}")


if __name__ == "__main__":
    main()
