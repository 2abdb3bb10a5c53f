"""The CLI through typer's runner: the JSON contracts other tools read, and clear failures."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SEED, SEED_QUESTION
from vraagbaak.cli import app

pytestmark = pytest.mark.model  # the CLI builds from env settings: a real model (loaded once per process)
ASK_KEYS = {"question", "answer", "answered", "citations", "retrieved"}
CITATION_KEYS = {"n", "source", "start", "end", "page", "section", "score", "text"}
RETRIEVED_KEYS = {"source", "start", "end", "page", "section", "score", "text"}


@pytest.fixture
def env(tmp_path: Path, minilm: str, embedding_cache: Path) -> dict[str, str]:
    return {"VRAAGBAAK_EMBEDDER": minilm, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache),
            "VRAAGBAAK_DATA_DIR": str(tmp_path / "index")}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_ingest_ask_status_json_contracts(env: dict[str, str], docs: Path) -> None:
    code, out, _ = invoke(env, "ingest", str(docs), "--json")
    assert code == 0
    report = json.loads(out)
    assert {"added", "updated", "unchanged", "removed", "failed", "seconds"} <= set(report)
    assert report["added"] == 7 and report["failed"] == []

    code, out, _ = invoke(env, "ask", SEED_QUESTION, "--json", "-k", "4")
    assert code == 0
    payload = json.loads(out)
    assert ASK_KEYS <= set(payload)
    assert payload["question"] == SEED_QUESTION and payload["answered"] is True
    assert payload["scope"] is None
    assert len(payload["retrieved"]) == 4
    assert all(RETRIEVED_KEYS <= set(r) for r in payload["retrieved"])
    assert payload["citations"] and all(CITATION_KEYS <= set(c) for c in payload["citations"])
    first = payload["citations"][0]
    assert Path(first["source"]).is_absolute()
    assert open(first["source"], encoding="utf-8").read()[first["start"]:first["end"]] == first["text"]
    assert "75.000 euro" in payload["answer"]

    code, out, _ = invoke(env, "status", "--json")
    status = json.loads(out)
    assert status["documents"] == 7 and status["passages"] > 7
    assert status["embedder"] == env["VRAAGBAAK_EMBEDDER"]
    assert status["data_dir"] == env["VRAAGBAAK_DATA_DIR"]
    assert status["folders"] == {str(docs.resolve()): []} and status["types"] == {"txt": 7}
    assert (status["years"], status["undated"]) == ({"2017": 6}, 1)  # the seed states no date


def test_ingest_exits_1_when_any_path_failed_and_prints_its_summary_to_stdout(
        env: dict[str, str], docs: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    code, out, err = invoke(env, "ingest", str(missing), str(docs / SEED.name))
    assert code == 1
    assert "added 1," in out and "failed 1;" in out and "failed 1" not in err
    assert f"failed: {missing}" in out
    code, out, _ = invoke(env, "ingest", str(missing), str(docs / SEED.name), "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["unchanged"], [f["source"] for f in report["failed"]]) == (1, [str(missing)])
    code, out, _ = invoke(env, "ingest", str(docs / SEED.name))
    assert code == 0 and "unchanged 1," in out and "failed 0;" in out


def test_verbose_ingest_adds_what_the_library_said(env: dict[str, str], docs: Path, tmp_path: Path) -> None:
    bad = tmp_path / "kapot.pdf"
    bad.write_bytes(b"\x7fELF\x02 not a pdf at all")
    code, out, _ = invoke(env, "ingest", str(bad))
    assert code == 1 and f"failed: {bad}: " in out and "detail:" not in out and "ELF" not in out
    code, out, _ = invoke(env, "ingest", str(bad), "--verbose")
    assert code == 1 and "detail:" in out and "ELF" in out.split("detail:")[1]


def test_help_documents_the_exit_codes_and_shows_no_type_names(env: dict[str, str]) -> None:
    for args in (["--help"], ["ingest", "--help"], ["ask", "--help"], ["serve", "--help"]):
        code, out, _ = invoke(env, *args)
        assert code == 0
        assert "Exit codes" in out and "2 bad usage" in " ".join(out.split()), args
        assert "<bool>" not in out and "<list[" not in out and "<str>" not in out, args


def test_data_dir_option_keeps_indexes_apart(env: dict[str, str], docs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-index"
    assert invoke(env, "ingest", str(docs / "000_f1983a13cfbb3364.txt"), "--data-dir", str(other))[0] == 0
    code, out, _ = invoke(env, "status", "--json", "--data-dir", str(other))
    assert json.loads(out)["documents"] == 1
    code, out, _ = invoke(env, "status", "--json")
    assert json.loads(out)["documents"] == 0


def test_ask_on_empty_index_says_how_to_fix_and_creates_nothing(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = invoke(env, "ask", "Wat is er gevraagd?")
    assert code == 1
    assert "empty" in err and "vraagbaak ingest" in err
    assert not Path(env["VRAAGBAAK_DATA_DIR"]).exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["ask", "Wat?"], ["eval", str(tmp_path / "q.jsonl")], ["calibrate"], ["remove", "x.txt"]):
        (tmp_path / "q.jsonl").write_text('{"id": "q", "question": "Wat?"}\n', encoding="utf-8")
        code, _, err = invoke(env, *args, "--data-dir", str(empty))
        assert code == 1 and "is empty" in err, args
    assert list(empty.iterdir()) == []


def test_ask_rejects_k_out_of_range(env: dict[str, str], docs: Path) -> None:
    for k in ("0", "-1", "41"):
        code, out, err = invoke(env, "ask", SEED_QUESTION, "-k", k)
        assert code == 2 and "-k" in err and out == "", k
    assert "40 candidates" in err and "VRAAGBAAK_CANDIDATES" in err
    invoke(env, "ingest", str(docs))
    code, out, _ = invoke(env, "ask", SEED_QUESTION, "--json", "-k", "40")
    assert code == 0 and len(json.loads(out)["retrieved"]) > 5


def test_ask_labels_the_draft_and_the_final_answer_and_shows_relevance_only_on_request(
        env: dict[str, str], docs: Path) -> None:
    invoke(env, "ingest", str(docs))
    code, out, _ = invoke(env, "ask", SEED_QUESTION, "--stream")
    assert code == 0
    assert out.startswith("draft: ") and out.count("draft: ") == 1
    assert "final (checked)" in out and "75.000 euro" in out
    assert "score" not in out and "relevance" not in out
    code, out, _ = invoke(env, "ask", SEED_QUESTION, "--scores")
    assert code == 0 and not out.startswith("draft: ") and "final (checked)" not in out
    first = next(line for line in out.splitlines() if line.startswith("[1] "))
    relevance = float(first.split("relevance ")[1].split()[0])
    assert 0 < relevance <= 1


def test_empty_and_huge_questions_are_refused_clearly(env: dict[str, str], docs: Path) -> None:
    invoke(env, "ingest", str(docs))
    code, _, err = invoke(env, "ask", "  ")
    assert code == 1 and "empty" in err
    code, _, err = invoke(env, "ask", "vraag " * 20_000)
    assert code == 1 and "characters long" in err


def test_ask_within_a_folder_year_or_type(env: dict[str, str], docs: Path) -> None:
    invoke(env, "ingest", str(docs))
    code, out, _ = invoke(env, "ask", SEED_QUESTION, "--json", "--in", str(docs), "--type", "txt")
    assert code == 0 and "75.000" in json.loads(out)["answer"]
    code, out, _ = invoke(env, "ask", SEED_QUESTION, "--json", "--year", "2017")
    assert json.loads(out)["scope"] == {"paths": [], "years": [2017], "types": []}
    retrieved = json.loads(out)["retrieved"]
    assert retrieved and all("bekamer_" in r["source"] for r in retrieved)  # the seed states no date
    code, _, err = invoke(env, "ask", SEED_QUESTION, "--year", "2016", "--type", "txt")
    assert code == 1 and "no indexed document is in the chosen scope (years 2016; types txt)" in err
    code, _, err = invoke(env, "ask", SEED_QUESTION, "--year", "zeventien")
    assert code == 1 and "'zeventien' is not a year" in err


def test_ingest_sync_without_paths_rereads_everything_the_index_was_built_from(
        env: dict[str, str], docs: Path) -> None:
    assert invoke(env, "ingest", str(docs))[0] == 0
    (docs / SEED.name).unlink()
    code, out, err = invoke(env, "ingest", "--sync", "--json")
    assert code == 0, err
    assert (json.loads(out)["removed"], json.loads(out)["failed"]) == (1, [])
    code, _, err = invoke(env, "ingest")
    assert code == 2 and "--sync alone" in err


def test_eval_scores_gold_passages(env: dict[str, str], docs: Path, tmp_path: Path) -> None:
    invoke(env, "ingest", str(docs))
    seed_text = (docs / "000_f1983a13cfbb3364.txt").read_text(encoding="utf-8")
    start = seed_text.index("3. De spreker")
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in [
        {"id": "q1", "question": SEED_QUESTION, "gold_doc": "000_f1983a13cfbb3364",
         "gold_start": start, "gold_end": len(seed_text.rstrip())},
        {"id": "q2", "question": "Wat kost een ticket voor de maan?", "answerable": False},
    ]) + "\n", encoding="utf-8")
    out_file = tmp_path / "results.jsonl"
    code, out, _ = invoke(env, "eval", str(questions), "--out", str(out_file), "--json", "-k", "5")
    assert code == 0
    summary = json.loads(out)["sets"][-1]
    assert summary["set"] == "all" and summary["questions"] == 2
    settings = json.loads(out)["settings"]  # every setting the figures depend on, to compare runs by
    assert settings["keyword_peak_power"] == 1.0 and settings["keyword_known_power"] >= 0
    assert settings["dense_partition"] == "none" and settings["keyword_engine"] == "auto"
    assert summary["hit@1"] == 1.0 and summary["mrr@10"] == 1.0 and summary["first_citation_hit"] == 1.0
    lines = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2"]
    assert all(ASK_KEYS | {"seconds"} <= set(line) for line in lines)
    assert len(lines[0]["retrieved"]) == 5


def test_a_missing_llm_extra_names_the_backend_and_the_extra(
        env: dict[str, str], docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke(env, "ingest", str(docs))
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # as in an install without vraagbaak[llm]
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    code, _, err = invoke({**env, "VRAAGBAAK_LLM": f"gguf:{model}"}, "ask", SEED_QUESTION)
    assert code == 1
    assert f"VRAAGBAAK_LLM=gguf:{model} needs langchain-openai" in err and "pip install 'vraagbaak[llm]'" in err
    code, _, err = invoke({**env, "VRAAGBAAK_LLM": "openai", "VRAAGBAAK_LLM_MODEL": "m"}, "ask", SEED_QUESTION)
    assert code == 1 and "VRAAGBAAK_LLM=openai needs langchain-openai" in err


def test_a_file_gone_from_an_ingested_folder_is_named_until_a_sync(env: dict[str, str], docs: Path) -> None:
    assert invoke(env, "ingest", str(docs))[0] == 0
    gone = sorted(docs.glob("bekamer_*.txt"))[0]
    gone.unlink()
    code, out, _ = invoke(env, "ingest", str(docs))
    assert code == 0  # nothing failed: the document is kept, but never silently
    assert "1 indexed document(s) under these paths are gone from disk" in out and "--sync" in out
    code, out, _ = invoke(env, "ingest", str(docs), "--json")
    assert json.loads(out)["stale"] == [str(gone.resolve())]
    code, out, _ = invoke(env, "ingest", str(docs), "--sync", "--json")
    assert (json.loads(out)["removed"], json.loads(out)["stale"]) == (1, [])
