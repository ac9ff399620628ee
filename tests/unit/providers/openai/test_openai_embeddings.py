"""OpenAI /embeddings bodies ⇄ canonical embeddings types."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.errors import InvalidRequest, UpstreamError
from bastion.core.types import Embedding, EmbeddingsRequest, EmbeddingsResponse, Usage
from bastion.providers.openai import OPENAI, OPENAI_COMPATIBLE

REFERENCE_RESPONSE = {
    "object": "list",
    "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292, -0.0028842222], "index": 0}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}


def test_reference_request() -> None:
    req = OPENAI.decode_embeddings_request({"input": "The food was delicious and the waiter...",
                                            "model": "text-embedding-3-small", "encoding_format": "float"})
    assert req == EmbeddingsRequest(model="text-embedding-3-small", input=["The food was delicious and the waiter..."],
                                    encoding_format="float")


def test_all_fields_and_round_trip() -> None:
    body = {"model": "e", "input": ["a", "b"], "dimensions": 256, "encoding_format": "base64", "user": "u1"}
    req = OPENAI.decode_embeddings_request(body)
    assert req == EmbeddingsRequest("e", ["a", "b"], 256, "base64", "u1")
    assert OPENAI_COMPATIBLE.encode_embeddings_request(req, "nomic-embed-text") == {**body, "model": "nomic-embed-text"}
    assert OPENAI.decode_embeddings_request(OPENAI.encode_embeddings_request(req, "e")) == req


def test_nulls_read_as_absent() -> None:
    req = OPENAI.decode_embeddings_request({"model": "e", "input": "x", "dimensions": None, "user": None})
    assert OPENAI.encode_embeddings_request(req, "e") == {"model": "e", "input": ["x"]}


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]], ["text", 5]])
def test_token_arrays_are_refused_because_they_cannot_be_scanned(tokens: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        OPENAI.decode_embeddings_request({"model": "e", "input": tokens})
    assert info.value.param == "input"
    assert "token arrays are not supported: send text so it can be scanned" in info.value.message


@pytest.mark.parametrize(("body", "param", "fragment"), [
    ({"input": "x"}, "model", "expected a string"),
    ({"model": "e"}, "input", "a string or an array of strings"),
    ({"model": "e", "input": []}, "input", "non-empty array"),
    ({"model": "e", "input": ""}, "input", "non-empty string"),
    ({"model": "e", "input": ["a", ""]}, "input[1]", "non-empty string"),
    ({"model": "e", "input": [{"text": "a"}]}, "input[0]", "expected a string"),
    ({"model": "e", "input": "x", "dimensions": 0}, "dimensions", "between 1 and 65536"),
    ({"model": "e", "input": "x", "encoding_format": "int8"}, "encoding_format", "float, base64"),
    ({"model": "e", "input": "x", "user": 1}, "user", "expected a string"),
    ({"model": "e", "input": "x", "truncate": True}, "truncate", "Unsupported parameter"),
])
def test_invalid_requests_name_the_field(body: dict[str, Any], param: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        OPENAI.decode_embeddings_request(body)
    assert info.value.param == param and fragment in info.value.message


def test_reference_response_both_ways() -> None:
    resp = OPENAI.decode_embeddings_response(REFERENCE_RESPONSE)
    assert resp == EmbeddingsResponse("text-embedding-3-small",
                                      [Embedding(0, [0.0023064255, -0.009327292, -0.0028842222])], Usage(8))
    assert OPENAI.encode_embeddings_response(resp, "text-embedding-3-small") == REFERENCE_RESPONSE


def test_base64_vectors_and_missing_usage() -> None:
    resp = OPENAI.decode_embeddings_response({"data": [{"embedding": "AAAAPw==", "index": 0}], "model": "m"})
    assert resp.data == [Embedding(0, "AAAAPw==")] and resp.usage is None
    out = OPENAI.encode_embeddings_response(resp, "alias")
    assert out["usage"] == {"prompt_tokens": 0, "total_tokens": 0} and out["model"] == "alias"


@pytest.mark.parametrize(("body", "fragment"), [
    ("x", "expected a JSON object"),
    ({"model": "m"}, "'data' is not an array"),
    ({"data": [], "model": 1}, "'model'"),
    ({"data": [5]}, "data[0] is not an object"),
    ({"data": [{"index": "0", "embedding": []}]}, "data[0].index"),
    ({"data": [{"index": 0, "embedding": {"v": 1}}]}, "neither an array nor base64"),
    ({"data": [], "usage": [8]}, "usage is not an object"),
    ({"data": [], "usage": {"prompt_tokens": "8"}}, "usage.prompt_tokens"),
])
def test_malformed_responses(body: Any, fragment: str) -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI.decode_embeddings_response(body)
    assert info.value.retryable is False and fragment in info.value.message


def test_error_object_in_a_200_embeddings_body() -> None:
    with pytest.raises(UpstreamError) as info:
        OPENAI_COMPATIBLE.decode_embeddings_response({"error": "model does not support embeddings"})
    assert "model does not support embeddings" in info.value.message


def test_dimensions_are_bounded() -> None:
    import pytest

    from bastion.core.errors import InvalidRequest
    from bastion.providers.openai import OPENAI

    with pytest.raises(InvalidRequest) as e:
        OPENAI.decode_embeddings_request({"model": "m", "input": "x", "dimensions": 304250263527209})
    assert e.value.param == "dimensions"
