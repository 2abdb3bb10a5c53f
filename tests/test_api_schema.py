"""schemathesis against the served OpenAPI schema: generated requests to every operation (valid and
invalid ones) never get a server error or a response that breaks the schema.

A real server in this process over a real index (model-free embedder), with keys: the generated
calls carry the admin key, so ingest, sync and remove run too; ingest may read nothing but the
indexed folder (every generated path elsewhere is refused with a 400 that names it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode

from api.keys import Keys, add_key
from tests.conftest import ANSWER_ALL, SEED, SMALL_SET
from tests.fakes import FakeEmbedder, build
from tests.test_serve import free_port
from vraagbaak.doors import Doors
from vraagbaak.server import start

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("schema")
    docs = root / "docs"
    docs.mkdir()
    for path in (SEED, *SMALL_SET[:2]):
        shutil.copy(path, docs)
    assistant = build(Settings(data_dir=root / "index", embedder=FakeEmbedder.name, **ANSWER_ALL))
    assert not assistant.ingest([docs]).failed
    admin = add_key(root / "keys.json", "fuzz", "admin")
    server = start(assistant, Doors(keys=Keys.load(root / "keys.json")), port=free_port(), quiet=True)
    yield server.url.rstrip("/"), admin
    server.stop()
    assistant.index.close()


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> Any:
    url, _ = served
    return schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")


# schema-valid bodies may still be refused, with a 400 that says why, for what no schema can say:
# a scope that matches no indexed document, a question over VRAAGBAAK_MAX_QUESTION_CHARS, a path
# outside the folders the API may ingest from. Every other check stays on: no server error, every
# response in its documented schema and status, invalid bodies refused.
SEMANTIC = schemathesis.checks.positive_data_acceptance


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


BODIES = {"POST /api/v1/ask", "POST /api/v1/ask/stream", "POST /api/v1/search", "POST /api/v1/ingest",
          "POST /api/v1/remove", "POST /v1/chat/completions"}


def check(operation: Any, mode: GenerationMode, admin: str) -> None:
    """Up to 20 generated requests to ``operation``, each validated against the schema."""
    auth = {"Authorization": f"Bearer {admin}"}

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, headers=auth))
    @hypothesis.settings(max_examples=20, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=auth, timeout=120, excluded_checks=[SEMANTIC])

    run()


# schemathesis' own pytest integration (``from_fixture``) breaks on pytest 9 (it reads a node's
# private ``_nodeid``), so each operation's strategy is run by hypothesis here
def test_valid_requests_to_every_operation_keep_to_the_schema(api_schema: Any, served: tuple[str, str]) -> None:
    checked = []
    for operation in operations(api_schema):
        check(operation, GenerationMode.POSITIVE, served[1])
        checked.append(operation.label)
    assert len(checked) == 12 and "POST /v1/chat/completions" in checked, checked  # the OpenAI door's too


def test_invalid_bodies_are_refused_with_a_4xx_in_the_schema(api_schema: Any, served: tuple[str, str]) -> None:
    # invalid bodies only: the key is sent with every request (so a case "without the key" is not
    # one), and a repeated query parameter is read as its last value, as most web frameworks do
    chosen = [op for op in operations(api_schema) if op.label in BODIES]
    assert {op.label for op in chosen} == BODIES
    for operation in chosen:
        check(operation, GenerationMode.NEGATIVE, served[1])


def test_the_schema_is_served(served: tuple[str, str]) -> None:
    import httpx

    url, _ = served
    schema_json = httpx.get(f"{url}/api/v1/openapi.json", timeout=30).json()
    assert schema_json["openapi"].startswith("3.")
    assert "/api/v1/ask" in schema_json["paths"] and "/v1/chat/completions" in schema_json["paths"]
