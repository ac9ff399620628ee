"""OpenAI `/embeddings` bodies ⇄ canonical EmbeddingsRequest / EmbeddingsResponse."""

from __future__ import annotations

from typing import cast

from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, Embedding, EmbeddingsRequest, EmbeddingsResponse, JSONObject, Usage
from bastion.providers.openai.errors import embedded_error, malformed
from bastion.providers.openai.fields import as_int, as_str, invalid, one_of, shown, wrong_type
from bastion.providers.openai.response import MAX_TOKEN_COUNT

_KEYS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
_FORMATS = ("float", "base64")
_WHAT = "embeddings response"
_TOKENS = "token arrays are not supported: send text so it can be scanned"


def decode_embeddings_request(body: JSONObject) -> EmbeddingsRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    for key in body:
        if key not in _KEYS:
            raise InvalidRequest(f"Unsupported parameter {shown(key)}: Bastion forwards only parameters "
                                 "it can check.", param=key[:64])
    req = EmbeddingsRequest(model=as_str(body.get("model"), "model", non_empty=True),
                            input=_input(body.get("input")))
    if (v := body.get("dimensions")) is not None:
        req.dimensions = as_int(v, "dimensions", lo=1, hi=65536)
    if (v := body.get("encoding_format")) is not None:
        req.encoding_format = one_of(v, "encoding_format", _FORMATS)
    if (v := body.get("user")) is not None:
        req.user = as_str(v, "user")
    return req


def _input(value: JSON) -> list[str]:
    if isinstance(value, str):
        items: list[JSON] = [value]
    elif isinstance(value, list):
        if not value:
            raise invalid("input", "expected a non-empty array of strings")
        items = value
    else:
        raise wrong_type("input", "a string or an array of strings", value)
    out: list[str] = []
    for i, item in enumerate(items):
        path = "input" if isinstance(value, str) else f"input[{i}]"
        if isinstance(item, int | list) and not isinstance(item, bool):
            raise invalid("input", _TOKENS)
        text = as_str(item, path)
        if not text:
            raise invalid(path, "expected a non-empty string")
        out.append(text)
    return out


def encode_embeddings_request(req: EmbeddingsRequest, model: str) -> JSONObject:
    body: JSONObject = {"model": model, "input": list(req.input)}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.encoding_format is not None:
        body["encoding_format"] = req.encoding_format
    if req.user is not None:
        body["user"] = req.user
    return body


def decode_embeddings_response(body: JSONObject) -> EmbeddingsResponse:
    if not isinstance(body, dict):
        raise malformed(_WHAT, "expected a JSON object")
    if body.get("error") is not None:
        raise embedded_error(body, "instead of embeddings")
    data, model = body.get("data"), body.get("model", "")
    if not isinstance(data, list):
        raise malformed(_WHAT, "'data' is not an array")
    if not isinstance(model, str):
        raise malformed(_WHAT, "'model' is not a string")
    out: list[Embedding] = []
    for pos, item in enumerate(data):
        if not isinstance(item, dict):
            raise malformed(_WHAT, f"data[{pos}] is not an object")
        index, vector = item.get("index", pos), item.get("embedding")
        if type(index) is not int:
            raise malformed(_WHAT, f"data[{pos}].index is not an integer")
        # Vectors are long: the container type is checked, each number is not (it passes through).
        if not isinstance(vector, list | str):
            raise malformed(_WHAT, f"data[{pos}].embedding is neither an array nor base64 text")
        out.append(Embedding(index=index, vector=cast("list[float] | str", vector)))
    return EmbeddingsResponse(model=model, data=out, usage=_usage(body.get("usage")))


def _usage(value: JSON) -> Usage | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed(_WHAT, "usage is not an object")
    tokens = value.get("prompt_tokens", 0)
    if type(tokens) is not int or tokens < 0:
        raise malformed(_WHAT, "usage.prompt_tokens is not a non-negative integer")
    if tokens > MAX_TOKEN_COUNT:
        raise malformed(_WHAT, f"usage.prompt_tokens is not a plausible token count (over {MAX_TOKEN_COUNT})")
    return Usage(input_tokens=tokens)


def encode_embeddings_response(resp: EmbeddingsResponse, model: str) -> JSONObject:
    usage = resp.usage or Usage()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": e.index, "embedding": cast(JSON, e.vector)} for e in resp.data],
        "model": model,
        "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens},
    }
