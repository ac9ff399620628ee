"""Token estimates before the call and the actual count after it."""

from __future__ import annotations

from bastion.core.context import Attempt, RequestContext
from bastion.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    ImagePart,
    Message,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolDef,
    Usage,
)
from bastion.limits.estimate import (
    TokenEstimate,
    actual_usage,
    estimate_for,
    estimate_input,
    estimate_request,
    upstream_reached,
)


def test_counts_every_text_the_model_reads() -> None:
    base = ChatRequest(model="m", messages=[Message("user", [TextPart("a" * 400)])])
    assert estimate_input(base) == 100 + 4
    full = ChatRequest(
        model="m", system=[TextPart("s" * 40)],
        messages=[Message("user", [TextPart("a" * 400), ImagePart(url="https://x/y.png")]),
                  Message("assistant", tool_calls=[ToolCall("c1", "lookup", '{"q": "' + "z" * 80 + '"}')]),
                  Message("tool", [TextPart("r" * 40)], tool_call_id="c1")],
        tools=[ToolDef("lookup", "d" * 40, {"type": "object", "properties": {"q": {"type": "string"}}})])
    est = estimate_input(full)
    assert est > estimate_input(base) + 1000  # the image
    assert est >= (40 + 400 + 6 + 89 + 40 + 6 + 40 + 50) // 4 + 3 * 4 + 1000


def test_reasoning_passed_back_counts_as_input() -> None:
    turn = [Message("user", [TextPart("a" * 40)])]
    plain = estimate_input(ChatRequest(model="m", messages=[*turn, Message("assistant", [TextPart("b" * 40)])]))
    thought = Message("assistant", [TextPart("b" * 40)],
                      thinking=[ThinkingPart("t" * 400, signature="sig"), ThinkingPart(redacted="r" * 80)])
    assert estimate_input(ChatRequest(model="m", messages=[*turn, thought])) == plain + (400 + 80) // 4


def test_non_ascii_text_counts_bytes() -> None:
    cjk = ChatRequest(model="m", messages=[Message("user", [TextPart("漢" * 100)])])
    assert estimate_input(cjk) == 75 + 4  # 300 UTF-8 bytes / 4: closer to real tokenizers than chars / 4


def test_output_is_max_tokens_times_choices_or_the_default() -> None:
    r = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], max_tokens=50, n=3)
    assert estimate_request(r, 4096).output == 150
    r.max_tokens, r.n = None, None
    assert estimate_request(r, 4096).output == 4096
    e = EmbeddingsRequest(model="e", input=["a" * 40, "b" * 40])
    assert estimate_request(e, 4096) == TokenEstimate(20, 0)


def test_estimate_is_computed_once_per_request() -> None:
    ctx = RequestContext(request_id="r", ingress="openai")
    r = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], max_tokens=5)
    first = estimate_for(ctx, r, 10)
    r.messages[0].content[0] = TextPart("x" * 4000)  # redaction later must not change the reservation
    assert estimate_for(ctx, r, 10) is first


def test_actual_usage() -> None:
    est = TokenEstimate(100, 1000)
    ctx = RequestContext(request_id="r", ingress="openai")
    assert actual_usage(ctx, est, upstream_reached=False) == Usage()  # never reached upstream
    assert actual_usage(ctx, est, upstream_reached=True) == Usage(100, 0)  # reached, nothing streamed
    ctx.streamed_chars = 401
    assert actual_usage(ctx, est, upstream_reached=False) == Usage(100, 101)
    ctx.usage = Usage(7, 3)
    assert actual_usage(ctx, est, upstream_reached=True) == Usage(7, 3)
    assert not upstream_reached(RequestContext(request_id="r", ingress="openai"))
    ctx.attempts = [Attempt("p", "m", "timeout"), Attempt("p", "m", "ok")]
    assert upstream_reached(ctx)


def test_a_cut_stream_is_counted_by_what_its_start_reported() -> None:
    """Anthropic counts the input at the stream's start: a stream cut before its final usage is
    counted by that, not the estimate; output is the larger of the start's count and what was streamed."""
    est = TokenEstimate(100, 1000)
    ctx = RequestContext(request_id="r", ingress="anthropic")
    ctx.start_usage = Usage(input_tokens=1234 + 30, output_tokens=1, cached_input_tokens=30)
    assert actual_usage(ctx, est, upstream_reached=True) == Usage(1264, 1, cached_input_tokens=30)
    ctx.streamed_chars = 401
    assert actual_usage(ctx, est, upstream_reached=True) == Usage(1264, 101, cached_input_tokens=30)
    assert ctx.start_usage.output_tokens == 1  # not changed in place
    ctx.usage = Usage(1264, 120, cached_input_tokens=30)  # the final count, when it came, wins
    assert actual_usage(ctx, est, upstream_reached=True) is ctx.usage


def test_the_budget_bound_is_one_token_per_byte_plus_framing() -> None:
    from bastion.limits.estimate import (
        IMAGE_TOKENS_BOUND,
        PER_MESSAGE_BOUND,
        PER_REQUEST_BOUND,
        TOOLS_BOUND,
        input_bound,
    )

    # digits, base64 and CJK tokenize far denser than bytes / 4; no byte-level BPE token is shorter than a byte
    dense = "8f3a9c0b" * 50 + "漢字" * 50
    r = ChatRequest(model="m", system=[TextPart("s" * 10)], messages=[Message("user", [TextPart(dense)])])
    size = 10 + len(dense.encode())
    assert input_bound(r) == size + PER_REQUEST_BOUND + PER_MESSAGE_BOUND
    assert input_bound(r) > 3 * estimate_input(r)
    r.messages.append(Message("user", [TextPart("x"), ImagePart(url="https://x/y.png")]))
    r.tools = [ToolDef("t", "d", {"type": "object"})]
    assert input_bound(r) == (size + 1 + 1 + 1 + len(b'{"type":"object"}') + PER_REQUEST_BOUND + 2 * PER_MESSAGE_BOUND
                              + IMAGE_TOKENS_BOUND + TOOLS_BOUND)
    e = EmbeddingsRequest(model="e", input=["a" * 40, "漢" * 10])
    assert input_bound(e) == PER_REQUEST_BOUND + 40 + 30 + 2 * PER_MESSAGE_BOUND


def test_the_estimate_carries_the_bound_of_the_same_measurement() -> None:
    from bastion.limits.estimate import input_bound

    r = ChatRequest(model="m", system=[TextPart("s" * 10)], messages=[Message("user", [TextPart("漢字" * 30)])])
    est = estimate_request(r, 100)
    assert est.bound == input_bound(r) and est == TokenEstimate(est.input, est.output)  # bound: not in equality
    assert estimate_request(EmbeddingsRequest(model="e", input=["a"]), 1).bound == 0  # not computed: the stage measures
