"""Where passages live: Chroma (dense), the keyword index (BM25) and the catalog of what is indexed."""
