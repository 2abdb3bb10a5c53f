"""The assistant: ask (retrieve → answer → check citations → refuse when nothing fits), ingest, status."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from langchain_core.runnables import Runnable

from assistant.answer import Answer, Answerer
from assistant.chain import AskInput, Token, answer_chain
from assistant.citations import CitationChecker
from assistant.evidence import EvidenceReader
from assistant.followup import Rewriter, RuleRewriter
from assistant.refusal import RefusalPolicy, policy_for
from assistant.retrieval import Hit, HybridRetriever
from assistant.scope import Scope
from ingest.loaders import SUPPORTED_SUFFIXES, load
from ingest.pipeline import Ingestor
from values.document import DocumentRecord, OpenedDocument
from values.errors import QuestionError, StoreError
from values.passage import Passage
from values.report import IngestReport, Progress
from vectorstore.index import PassageIndex

CALIBRATION_KEY = "refusal_calibration"


class Assistant:
    """What the CLI and the chat page call; built by ``vraagbaak.compose.build_assistant``.

    ``chain`` is the answer path as a LangChain runnable (``assistant.chain``); ``ask`` and
    ``ask_stream`` run through it, so what a LangChain user composes is what the service runs.
    """

    def __init__(self, index: PassageIndex, retriever: HybridRetriever, answerer: Answerer,
                 checker: CitationChecker, ingestor: Ingestor, *, reader: EvidenceReader,
                 refusal: dict[str, float | None] | None = None,
                 max_question_chars: int, top_k: int, rewriter: Rewriter | None = None) -> None:
        self.index = index
        self.retriever = retriever
        self.answerer = answerer
        self.checker = checker
        self.rewriter = rewriter or RuleRewriter(checker.tokenize)
        self.ingestor = ingestor
        self.reader = reader
        self.refusal_overrides = dict(refusal or {})
        self._policy: tuple[str, RefusalPolicy] | None = None
        self.max_question_chars = max_question_chars
        self.top_k = top_k
        self.chain: Runnable[AskInput | str, Token | Answer] = answer_chain(self)

    def documents(self) -> Mapping[str, DocumentRecord]:
        """The indexed documents (read-only; the catalog reads them once per commit)."""
        return self.index.documents()

    def select(self, scope: Scope | None) -> list[str] | None:
        """The sources ``scope`` allows (None: every one); ScopeError when no indexed document is in it.

        The retriever's (``HybridRetriever.select``): one index of the documents per commit, shared
        with a LangChain ``VraagbaakRetriever`` over the same retriever.
        """
        return self.retriever.select(scope)

    def document_count(self) -> int:
        """How many documents are indexed."""
        return self.index.document_count()

    def passage_count(self) -> int:
        """How many passages are indexed."""
        return self.index.passage_count()

    def folders(self) -> dict[str, list[str]]:
        """The folders the index was built from, each with the exclude patterns it was given."""
        return self.index.folders()

    def open_document(self, source: str) -> OpenedDocument:
        """An indexed document's text (loaded as ingest loaded it) and its passages.

        LookupError when ``source`` is not indexed; IngestError when its file cannot be read now.
        """
        record = self.documents().get(source)
        if record is None:
            raise LookupError(source)
        loaded = load(Path(source))
        return OpenedDocument(record, loaded.text, tuple(self.passages(source)), loaded.page_starts)

    def passages(self, source: str) -> list[Passage]:
        """One indexed document's passages in order (empty when it is not indexed)."""
        return [row.passage for row in self.index.passages_of(source)]

    @property
    def file_types(self) -> tuple[str, ...]:
        """The file suffixes ingest reads (".txt", ".pdf", …)."""
        return tuple(SUPPORTED_SUFFIXES)

    @property
    def backend(self) -> str:
        """The answer backend's name ("extractive", "openai", …)."""
        return self.answerer.name

    @property
    def data_dir(self) -> Path:
        """The folder the index lives in (the page keeps its uploads beside it)."""
        return Path(self.index.location)

    def refusal_policy(self) -> RefusalPolicy:
        """The refusal thresholds in force: settings over the index's calibration over the built-in one."""
        stored = self.index.get_meta(CALIBRATION_KEY) or ""  # another process may calibrate
        if self._policy is None or self._policy[0] != stored:
            data = json.loads(stored) if stored else None
            if data and data.get("embedder") != self.index.settings.embedder:
                data = None  # calibrated for another embedder: its scale does not apply
            policy = policy_for(self.index.settings.embedder, data.get("policy") if data else None,
                                **self.refusal_overrides)
            self._policy = (stored, policy)
        return self._policy[1]

    def store_calibration(self, policy: RefusalPolicy, report: dict[str, object]) -> None:
        """Keep ``policy`` in the index as the calibration of its embedder (``vraagbaak calibrate``)."""
        with self.index.writing():
            self.index.set_meta(CALIBRATION_KEY, json.dumps(
                {"embedder": self.index.settings.embedder, "policy": policy.to_json(), "report": report}))

    def calibration(self) -> dict[str, object] | None:
        """The stored calibration report of the index, if ``vraagbaak calibrate`` ran."""
        stored = self.index.get_meta(CALIBRATION_KEY)
        return json.loads(stored) if stored else None

    def warm_up(self) -> None:
        """Load the embedding model and the keyword index now rather than on the first question."""
        self.retriever.embedder.embed_query("warm-up")
        self.index.warm_up()

    def validate(self, question: str) -> str:
        """The question stripped, or QuestionError when it is empty or too long."""
        question = question.strip()
        if not question:
            raise QuestionError("the question is empty: type a question")
        if len(question) > self.max_question_chars:
            raise QuestionError(
                f"the question is {len(question):,} characters long; the limit is "
                f"{self.max_question_chars:,} (VRAAGBAAK_MAX_QUESTION_CHARS)")
        return question

    def ask(self, question: str, k: int | None = None, scope: Scope | None = None,
            history: Sequence[tuple[str, str]] | None = None) -> Answer:
        """Answer ``question`` in one go (``history``: earlier (question, answer) turns, oldest first)."""
        answer = self.chain.invoke({"question": question, "k": k, "scope": scope, "history": history})
        assert isinstance(answer, Answer)
        return answer

    def ask_stream(self, question: str, k: int | None = None, scope: Scope | None = None,
                   history: Sequence[tuple[str, str]] | None = None) -> Iterator[Token | Answer]:
        """Stream answer tokens, then the final checked ``Answer``; ``scope`` restricts the documents.

        A follow-up ("En in 2016?") is first rewritten into a standalone query from ``history``
        (earlier (question, answer) turns, oldest first); the Answer's ``query`` holds it.
        """
        yield from self.chain.stream({"question": question, "k": k, "scope": scope, "history": history})

    def search(self, query: str, k: int | None = None, scope: Scope | None = None) -> list[Hit]:
        """The ``k`` passages that best match ``query``, within ``scope``: retrieval only, no answer.

        The query is checked like a question (QuestionError when empty or too long), the scope
        like an ask's (ScopeError when no indexed document is in it).
        """
        query = self.validate(query)
        self.index.check_readable()
        sources = self.select(scope)
        return self.retriever.retrieve(query, k or self.top_k, sources).hits

    def ingest(self, paths: Sequence[Path], *, sync: bool = False, rebuild: bool = False,
               progress: Progress | None = None, exclude: Sequence[str] = ()) -> IngestReport:
        """Add, update (and with ``sync`` remove) documents; ``exclude`` is remembered with the folders."""
        return self.ingestor.run(paths, sync=sync, rebuild=rebuild, progress=progress, exclude=exclude)

    def sync_all(self, progress: Progress | None = None) -> IngestReport:
        """Re-read the folders and files the index was built from, dropping what is gone."""
        return self.ingestor.sync_all(progress)

    def remove(self, path: Path) -> int:
        """Remove one document from the index."""
        return self.ingestor.remove(path)

    def status(self) -> dict[str, object]:
        """What is indexed: the ``status --json`` object."""
        index = self.index
        records = self.documents().values()
        return {"documents": index.document_count(), "passages": index.passage_count(),
                "embedder": index.settings.embedder, "data_dir": index.location,
                "reranker": self.retriever.reranker.name if self.retriever.reranker is not None else None,
                "index_version": index.version, "folders": index.folders(),
                "types": dict(sorted(Counter(r.doc_type for r in records).items())),
                "years": {str(y): n for y, n in sorted(Counter(r.year for r in records if r.year).items())},
                "undated": sum(r.year is None for r in records), "runs": index.last_runs(5),
                "refusal": self.refusal_policy().to_json(),
                "calibration": (self.calibration() or {}).get("report")}

    @property
    def index_version(self) -> int:
        """The index's commit counter: answers at the same version come from the same documents."""
        return self.index.version

    def readiness(self) -> str | None:
        """Why questions cannot be answered now (an empty or mismatched index), or None when they can."""
        try:
            self.index.check_readable()
        except StoreError as e:
            return str(e)
        return None
