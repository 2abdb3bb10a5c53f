"""The fake embedder is an honest stand-in: deterministic, unit length, and similar texts get
similar vectors, so that retrieval over a handful of passages finds the one sharing the words."""

from __future__ import annotations

import subprocess
import sys

from assistant.refusal import policy_for
from tests.fakes import FakeEmbedder

PASSAGES = [
    "De projectsubsidie van OTA bedraagt 75.000 euro en komt van WVG.",
    "De politie kreeg dit jaar twaalf nieuwe voertuigen voor de verkeershandhaving.",
    "De bakkerij in Mechelen bakt haar brood in een steenoven uit Italië.",
    "Bewoners van de binnenstad van Gent vragen een bewonerskaart aan bij Mobiliteit.",
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_are_unit_length_and_the_same_in_every_process() -> None:
    fake = FakeEmbedder()
    vector = fake.embed_query(PASSAGES[0])
    assert len(vector) == fake.dimension and abs(cosine(vector, vector) - 1.0) < 1e-9
    assert fake.embed_documents([PASSAGES[0]]) == [vector]
    child = subprocess.run([sys.executable, "-c", "import sys; from tests.fakes import FakeEmbedder; "
                            "print(FakeEmbedder().embed_query(sys.argv[1]))", PASSAGES[0]],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(vector), "no salted hash: the same text, the same vector"


def test_a_question_is_closest_to_the_passage_that_shares_its_words() -> None:
    fake = FakeEmbedder()
    passages = fake.embed_documents(PASSAGES)
    for question, wanted in [("Hoeveel projectsubsidie ontvangt OTA van WVG?", 0),
                             ("Hoeveel voertuigen heeft de politie?", 1),
                             ("In wat voor oven bakt de bakkerij?", 2),  # 'oven' ~ 'steenoven': trigrams
                             ("Hoe krijg ik een bewonerskaart in Gent?", 3)]:
        q = fake.embed_query(question)
        scores = [cosine(q, p) for p in passages]
        assert max(range(len(scores)), key=scores.__getitem__) == wanted, (question, scores)
        assert scores[wanted] > 0.3 and sorted(scores)[-2] < scores[wanted] / 2


def test_folding_and_stemming_make_variants_close_and_unrelated_texts_far() -> None:
    fake = FakeEmbedder()
    assert cosine(fake.embed_query("de subsidies van België"), fake.embed_query("subsidie belgie")) > 0.9
    assert cosine(fake.embed_query("de subsidies van België"), fake.embed_query("kabelbaan Namen")) < 0.15


def test_the_refusal_policy_treats_the_fake_as_uncalibrated() -> None:
    assert not policy_for(FakeEmbedder.name).calibrated
    assert policy_for(FakeEmbedder.name, threshold=-10.0, foreign=-10.0).calibrated  # a test's own thresholds
