"""The hash chain and checkpoint signatures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import orjson

from bastion.audit.chain import GENESIS, Chain, checkpoint_valid, link_hash
from bastion.audit.record import build_record
from bastion.core.context import RequestContext
from bastion.core.secret import Secret

KEY = Secret("checkpoint-key-" + "x" * 32)


def test_each_record_commits_to_the_previous(make_ctx: Callable[..., RequestContext]) -> None:
    chain = Chain("w-test")
    a = chain.append(build_record(make_ctx(1)))
    b = chain.append(build_record(make_ctx(2)))
    assert (a.seq, b.seq) == (1, 2)
    assert a.prev_hash == GENESIS and b.prev_hash == a.hash
    assert a.hash == hashlib.sha256(GENESIS.encode() + a.body.encode()).hexdigest()
    assert b.hash == link_hash(a.hash, b.body.encode())
    body = orjson.loads(b.body)
    assert body["writer_id"] == "w-test" and body["seq"] == 2 and body["request_id"] == "req-000002"
    assert b.ts_us == 1_767_225_602_000_000 and b.request_id == "req-000002"


def test_chain_resumes_from_a_head(make_ctx: Callable[..., RequestContext]) -> None:
    chain = Chain("w", seq=41, head="ab" * 32)
    rec = chain.append(build_record(make_ctx()))
    assert rec.seq == 42 and rec.prev_hash == "ab" * 32


def test_checkpoint_signature_verifies_and_detects_changes(make_ctx: Callable[..., RequestContext]) -> None:
    chain = Chain("w")
    chain.append(build_record(make_ctx()))
    cp = chain.checkpoint(KEY, 123)
    assert cp.seq == 1 and cp.hash == chain.head and cp.signature is not None
    assert checkpoint_valid(KEY, cp)
    assert not checkpoint_valid(Secret("another-key-" + "y" * 32), cp)
    for forged in (replace(cp, seq=2), replace(cp, hash="00" * 32), replace(cp, writer_id="w2"),
                   replace(cp, ts_us=124), replace(cp, signature="00" * 32)):
        assert not checkpoint_valid(KEY, forged)


def test_unsigned_checkpoint_without_key(make_ctx: Callable[..., RequestContext]) -> None:
    chain = Chain("w")
    chain.append(build_record(make_ctx()))
    cp = chain.checkpoint(None, 1)
    assert cp.signature is None and not checkpoint_valid(KEY, cp)
