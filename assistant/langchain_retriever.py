"""vraagbaak's hybrid retrieval as a LangChain retriever: the hits as ``Document``s.

Example::

    retriever = VraagbaakRetriever(retriever=assistant.retriever, k=5, scope=Scope.of(years=[2017]))
    retriever.invoke("Hoeveel projectsubsidie ontvangt OTA van WVG?", k=3)  # k for this call only

A Document's ``page_content`` is the passage's verbatim text and its ``id`` the passage id; its
``metadata`` (the ``retrieved`` entry of the JSON contract, plus what a passage knows besides):

- ``source`` (str): absolute path of the document.
- ``start``, ``end`` (int): offsets into the document's loaded text;
  ``loaded_text[start:end] == page_content``.
- ``page`` (int | None): 1-based page, None for a document without pages.
- ``section`` (str | None): the part and item label ("ANTWOORD 2", a heading), as in the JSON contract.
- ``title`` (str), ``doc_type`` (str: "txt", "pdf", …), ``kind`` (str: "text", "answer", "question", "header").
- ``passage_id`` (str): the passage's stable id.
- ``score`` (float): the fused rank score; ``dense`` (float | None) the cosine similarity of the
  dense leg, ``keyword`` (float | None) the BM25 score, None where that leg missed the passage.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from assistant.retrieval import Hit, HybridRetriever
from assistant.scope import Scope


def to_document(hit: Hit) -> Document:
    """One hit as a Document with the metadata schema of this module."""
    p = hit.passage
    return Document(page_content=p.text, id=hit.passage_id, metadata={
        "source": p.source, "start": p.start, "end": p.end, "page": p.page, "section": p.place,
        "title": p.title, "doc_type": p.doc_type, "kind": p.kind, "passage_id": hit.passage_id,
        "score": hit.score, "dense": hit.dense, "keyword": hit.keyword})


class VraagbaakRetriever(BaseRetriever):
    """Dense + BM25 retrieval over one index, optionally only from the documents of a ``scope``.

    The scope is resolved by ``retriever.select``: over ``assistant.retriever`` it shares the
    assistant's index of the documents (built once per catalog version).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    k: int | None = Field(default=None, ge=1)  # None: the retriever's own k (settings' top_k)
    scope: Scope | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None) -> list[Document]:
        """The best passages for ``query``; StoreError for an empty index, ScopeError for an empty scope."""
        if k is not None and k < 1:
            raise ValueError(f"k={k}: ask for at least one passage")
        self.retriever.index.check_readable()  # an empty index is an error, not "no passages"
        sources = self.retriever.select(self.scope)  # the retriever's scope index, shared with the assistant
        hits = self.retriever.retrieve(query, k or self.k, sources).hits
        return [to_document(hit) for hit in hits]
