"""What in the retrieved passages answers the question: the chosen sentences and the refusal's signals.

Every whole sentence of the top passages is scored against the question: the embedder's own
similarity of question and sentence, the weighted share of the question's words it contains
(with its passage's title and paired sub-question, which say what it is about), and whether it
holds a number, or says there is none ("beschikt niet over cijfers"), when the question asks how
many. The answer is the fewest sentences that do: the best one, plus a sentence of the same
document only when it adds words of the question the first one lacks (or the best one is a bare
"Ja, dat klopt."). Headings, table rows, questions and fragments are never chosen. The signals
mean the same for one document and for a million: no collection IDF.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.retrieval import Hit
from assistant.sentences import Segment, lines_are_blocks, segment
from assistant.terms import Term, Tokenize, coverage, missing, question_terms

# a question that opens by asking how many, how much or when wants a number or a date in its answer
# ("Wanneer een vrouw zich aanmeldt, …" opens a condition, not a question for a date)
_ASKS_NUMBER = re.compile(
    r"^\W*(?:\w\)\s*)?(?:en\s+|and\s+|maar\s+|but\s+)?(?:hoeveel|how\s+(?:many|much|often)|hoe\s+vaak|"
    r"welk\s+bedrag|what\s+amount|in\s+welk\s+jaar|what\s+year|sinds\s+wanneer|since\s+when|"
    r"(?:wanneer|when)\s+(?:zal|zullen|wordt|worden|werd|werden|is|zijn|was|waren|komt|komen|kan|kunnen|"
    r"heeft|hebben|gaat|gaan|start|begint|vindt|did|does|do|will|was|were|is|are|can|has|have|should))\b",
    re.I)
# … and so does one that asks, anywhere, for a size, a port, a level, a value or a version ("hoeveel"
# later in a question of several parts may belong to a part the answer does not take up)
_ASKS_QUANTITY = re.compile(
    r"\b(?:welke?\s+(?:[\w]+-)?(?:poort|poortnummer|versie|niveau|grootte|nummer|waarde)|"
    r"(?:which|what)\s+(?:[\w-]+\s+){0,2}(?:port|version|level|size|number|year|value)|numeric|numerieke?|"
    r"hoe\s+(?:groot|lang|hoog|duur|oud)\s+(?:is|zijn|was|waren|mag|moet|kan|wordt)|"
    r"how\s+(?:big|large|long|old|high)\s+(?:is|are|was|were|can|should|may))\b", re.I)
# a number, a count in words, a date: what a "how many" or "when" question needs in its answer
_NUMBER = re.compile(
    r"\d|\been\s+geval\b|"  # "er is een geval van": a count of one ("een keer" may be "slechts een keer")
    r"\b(?:één|anderhalf|halve?|kwart|half|quarter|dozen|"
    r"geen|nul|twee|drie|vier|vijf|zes|zeven|acht|negen|tien|elf|twaalf|twintig|dertig|veertig|"
    r"vijftig|honderd|duizend|miljoen|miljard|enkele|none|zero|two|three|four|five|six|seven|eight|nine|"
    r"ten|twelve|twenty|hundred|thousand|million|billion|several|januari|februari|maart|april|mei|juni|juli|"
    r"augustus|september|oktober|november|december|january|february|march|june|july|august|october|"
    r"voorjaar|najaar|zomer|winter|spring|summer|autumn|jaarlijks|maandelijks|wekelijks|dagelijks|"
    r"yearly|monthly|weekly|daily)\b", re.I)
# … or says that there is none to give: "beschikt niet over cijfers", "worden niet bijgehouden", "valt
# niet onder mijn bevoegdheden" answer a how-many question as a minister or a manual does
_NO_FIGURES = re.compile(
    r"\b(?:niet|geen|no|not)\b(?:\W+\w+){0,5}?\W+(?:cijfers|cijfergegevens|gegevens|statistieken|figures|"
    r"statistics|data)\b|\b(?:cijfers|gegevens|statistieken)\b(?:\W+\w+){0,4}?\W+(?:niet|geen)\s+"
    r"(?:beschikbaar|bekend)\b|\bniet\s+(?:\w+\s+){0,2}?(?:geregistreerd|bijgehouden)\b|"
    r"\b(?:not|never)\s+(?:\w+\s+){0,2}?(?:recorded|registered|tracked)\b|"
    r"\bniet\s+(?:onder|tot)\s+(?:mijn|zijn|haar)\s+bevoegdhe(?:id|den)\b|\bniet\s+bevoegd\b|"
    r"\bnot\s+(?:within\s+)?my\s+(?:competence|remit)\b", re.I)
_RANK_PRIOR = (1.0, 0.35, 0.25)  # retrieval's order beats a sentence's word overlap: measured, see benchmarks/README.md
_PASSAGES = 3  # the top hits whose sentences are read
_PER_PASSAGE = 4  # sentences per passage that are embedded and scored
_MAX_SENTENCES = 3  # sentences an extractive answer quotes at most
_MAX_CHARS = 700  # … and their characters together


@dataclass(frozen=True)
class Quote:
    """A sentence chosen for the answer: hit ``rank`` (0-based), its segment, document offsets."""

    rank: int
    segment: Segment
    start: int
    end: int
    score: float

    @property
    def text(self) -> str:
        """The sentence as the reader sees it."""
        return self.segment.words


@dataclass(frozen=True)
class Evidence:
    """The chosen sentences and the answerability signals of one question over its hits."""

    quotes: list[Quote]
    similarity: float = 0.0  # best question-sentence similarity (the embedder's scale)
    passage_similarity: float = 0.0  # best question-passage similarity of the dense leg
    lexical: float = 0.0  # weighted share of the question's words in the chosen sentences + context
    missing: tuple[str, ...] = ()  # specific terms (numbers, names, rare words) the top passages lack
    missing_numbers: tuple[str, ...] = ()
    names_missing: bool = False  # the question names someone or something, and no top passage does
    own: float = 1.0  # share of a follow-up's own words in the chosen sentences
    number_wanted: bool = False
    number_found: bool = False
    content: bool = False  # the chosen sentences have words of their own

    def to_json(self) -> dict[str, object]:
        """The signals, for ``ask --json`` (``evidence``) and calibration."""
        return {"similarity": round(self.similarity, 6), "passage_similarity": round(self.passage_similarity, 6),
                "names_missing": self.names_missing, "lexical": round(self.lexical, 4),
                "missing": list(self.missing),
                "missing_numbers": list(self.missing_numbers), "own": round(self.own, 4),
                "number_wanted": self.number_wanted, "number_found": self.number_found,
                "content": self.content}


@dataclass
class _Candidate:
    rank: int
    order: int
    seg: Segment
    tokens: set[str]
    lexical: float
    in_context: float
    dense: float = 0.0
    score: float = 0.0


class EvidenceReader:
    """Scores the sentences of the top hits and chooses the answering ones."""

    def __init__(self, tokenize: Tokenize, embedder: Embeddings | None,
                 document: Callable[[str], Sequence[str]] | None = None) -> None:
        self.tokenize = tokenize
        self.embedder = embedder
        self.document = document  # a source's passage texts: where a name the passage lacks may be
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, query: str, hits: Sequence[Hit], query_vector: Sequence[float] | None = None,
             own_question: str | None = None, passage_similarity: float | None = None) -> Evidence:
        """The evidence for ``query`` in ``hits``; ``own_question`` is a follow-up as the user typed it.

        ``passage_similarity`` is the dense leg's best match (default: the best of ``hits``).
        """
        terms = question_terms(query, self.tokenize)
        top = list(hits[:_PASSAGES])
        passage_tokens = _with_bare_words({t for h in top for t in self.tokenize(h.passage.embed_text)})
        candidates = self._candidates(terms, top)
        asked = own_question or query
        number_wanted = bool(_ASKS_NUMBER.match(asked) or _ASKS_QUANTITY.search(asked))
        if passage_similarity is None:
            passage_similarity = max((h.dense for h in hits if h.dense is not None), default=0.0)
        lacking = missing(terms, passage_tokens)  # specific terms: numbers and names among them
        names = [t for t in terms if t.name]
        # the top passages' documents are read at most once, and only when a rule needs them
        document_words = functools.cache(lambda: self._document_words(top))
        unquoted = Evidence([], passage_similarity=passage_similarity, missing=tuple(t.word for t in lacking),
                            missing_numbers=self._numbers_missing([t for t in lacking if t.number], document_words),
                            names_missing=self._names_missing(names, lacking, document_words),
                            number_wanted=number_wanted)
        if not candidates:
            return unquoted  # nothing to quote: the refusal says so
        self._score(query, candidates, query_vector, number_wanted)
        chosen = self._choose(terms, candidates, top)
        tokens = set().union(*(c.tokens for c in chosen))
        context = {t for c in chosen for t in self.tokenize(top[c.rank].passage.context)}
        own_terms = question_terms(own_question, self.tokenize) if own_question else []
        quotes = [Quote(c.rank, c.seg, top[c.rank].passage.start + c.seg.start,
                        top[c.rank].passage.start + c.seg.end, c.score)
                  for c in sorted(chosen, key=lambda c: (c.rank, c.order))]
        return replace(
            unquoted, quotes=quotes, similarity=max(c.dense for c in candidates),
            lexical=coverage(terms, tokens | context),
            own=coverage(own_terms, tokens | context) if own_terms else 1.0,
            number_found=any(_gives_number(c.seg.words) for c in chosen), content=bool(tokens))

    def _numbers_missing(self, lacking: list[Term], document_words: Callable[[], set[str]]) -> tuple[str, ...]:
        """The question's numbers that neither the top passages nor their documents hold.

        An answer passage rarely repeats its question's figures ("de 245 extra cipiers" asked, "de
        aanwerving" answered); the document's question part holds them.
        """
        if not lacking or self.document is None:
            return tuple(t.word for t in lacking)
        words = document_words()
        return tuple(t.word for t in lacking if not any(s in words for s in t.stems))

    def _document_words(self, top: list[Hit]) -> set[str]:
        """Every word of the top passages' documents (with glued footnote numbers dropped)."""
        assert self.document is not None
        return _with_bare_words({t for source in dict.fromkeys(h.passage.source for h in top)
                                 for text in self.document(source) for t in self.tokenize(text)})

    def _names_missing(self, names: list[Term], lacking: list[Term], document_words: Callable[[], set[str]]) -> bool:
        """Whether the question names someone or something and none of the top passages' documents does.

        A passage often leaves out what its document names elsewhere: an answer says "de wedde van
        december" under a question about Defensie's staff, a manual's section never repeats the
        program's name. Only when every name is missing from the passages are their documents read.
        """
        if not names or not all(t in lacking for t in names):
            return False
        if self.document is None:
            return True
        words = document_words()
        return not any(s in words for t in names for s in t.stems)

    def _candidates(self, terms: list[Term], top: list[Hit]) -> list[_Candidate]:
        """Whole sentences with content words; per passage the ``_PER_PASSAGE`` sharing most words.

        Embedding every sentence of long passages would cost more than the retrieval itself; the
        sentences that share none of the question's words rarely win (ties go to the first ones).
        """
        out: list[_Candidate] = []
        for rank, hit in enumerate(top):
            context = set(self.tokenize(hit.passage.context))
            mine: list[_Candidate] = []
            for order, seg in enumerate(segment(hit.passage.text, lines_are_blocks(hit.passage.doc_type))):
                if not seg.is_sentence:
                    continue
                tokens = set(self.tokenize(seg.words))
                if not tokens:
                    continue  # "1.", "Ja." alone has no content word: it is no answer by itself
                mine.append(_Candidate(rank, order, seg, tokens, coverage(terms, tokens),
                                       coverage(terms, tokens | context)))
            mine.sort(key=lambda c: (-c.lexical, c.order))
            out += sorted(mine[:_PER_PASSAGE], key=lambda c: c.order)
        return out

    def _score(self, query: str, candidates: list[_Candidate], query_vector: Sequence[float] | None,
               number_wanted: bool) -> None:
        dense = self._similarities(query, [c.seg.words for c in candidates], query_vector)
        low, high = min(dense), max(dense)
        for c, d in zip(candidates, dense, strict=True):
            c.dense = d
            relative = (d - low) / (high - low) if high > low else 1.0
            score = 0.45 * relative + 0.4 * c.lexical + 0.15 * c.in_context
            if number_wanted and _gives_number(c.seg.words):
                score += 0.1
            c.score = score * _RANK_PRIOR[min(c.rank, len(_RANK_PRIOR) - 1)]

    def _choose(self, terms: list[Term], candidates: list[_Candidate], top: list[Hit]) -> list[_Candidate]:
        best = max(candidates, key=lambda c: (c.score, -c.rank, -c.order))
        chosen = [best]
        source = top[best.rank].passage.source
        covered = set(best.tokens)
        total = sum(t.weight for t in terms) or 1.0
        used = len(best.seg.words)
        if len(best.tokens) <= 1:  # "Ja, dat klopt." says little alone: the next sentence explains
            follower = next((c for c in candidates if c.rank == best.rank and c.order > best.order), None)
            if follower is not None:
                chosen.append(follower)
                covered |= follower.tokens
                used += len(follower.seg.words)
        for c in sorted(candidates, key=lambda c: -c.score):
            if len(chosen) >= _MAX_SENTENCES or c.score < 0.7 * best.score:
                break
            if c in chosen or top[c.rank].passage.source != source or used + len(c.seg.words) > _MAX_CHARS:
                continue
            gain = sum(t.weight for t in terms if any(s in c.tokens for s in t.stems)
                       and not any(s in covered for s in t.stems)) / total
            if gain >= 0.2:
                chosen.append(c)
                covered |= c.tokens
                used += len(c.seg.words)
        return chosen

    def _similarities(self, query: str, sentences: list[str],
                      query_vector: Sequence[float] | None) -> list[float]:
        """Cosine of the question and each sentence (0.0 each without an embedder)."""
        if self.embedder is None:
            return [0.0] * len(sentences)
        q = list(query_vector) if query_vector else self.embedder.embed_query(query)
        with self._lock:
            known = {s: self._vectors[s] for s in sentences if s in self._vectors}
        todo = [s for s in dict.fromkeys(sentences) if s not in known]
        if todo:
            known.update(zip(todo, self.embedder.embed_documents(todo), strict=True))
            with self._lock:
                self._vectors.update((s, known[s]) for s in todo)
                while len(self._vectors) > 20_000:
                    self._vectors.popitem(last=False)
        matrix = np.array([known[s] for s in sentences], dtype=np.float32)
        qv = np.array(q, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(qv) or 1.0)
        return [float(x) for x in (matrix @ qv) / np.where(norms == 0, 1.0, norms)]


def _gives_number(sentence: str) -> bool:
    """Whether ``sentence`` gives a number or a date, or says that there is none to give."""
    return bool(_NUMBER.search(sentence) or _NO_FIGURES.search(sentence))


def _with_bare_words(tokens: set[str]) -> set[str]:
    """``tokens`` plus each word with a glued footnote or page number dropped ("kadatch1" → "kadatch")."""
    return tokens | {t.rstrip("0123456789") for t in tokens if len(t.rstrip("0123456789")) >= 3}
