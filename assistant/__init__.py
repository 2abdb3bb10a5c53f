"""The question-answering side: settings, embedders, retrieval, answerers and the composition root."""
