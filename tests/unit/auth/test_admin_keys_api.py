"""Admin key API handlers, in process: create once, list/get never leak, revoke, update, 400s naming fields."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bastion.auth import keys
from bastion.auth.admin_key import AdminAuth
from bastion.auth.authenticator import REVOKED, Authenticator
from bastion.auth.store import SqlKeyStore
from bastion.core.errors import AuthenticationError, InvalidRequest, NotFound
from bastion.core.secret import Secret
from bastion.http.admin import AdminRoutes, admin_routes, match_path
from bastion.http.types import HttpRequest, HttpResponse

ADMIN = "adm_test_0123456789abcdef0123456789"
NOW = 1_800_000_000.0


def request(method: str, path: str, body: object = None, *, token: str = ADMIN,
            query: dict[str, str] | None = None) -> HttpRequest:
    raw = b"" if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
    return HttpRequest(method=method, path=path, query=query or {},
                       headers={"authorization": f"Bearer {token}"} if token else {},
                       body=raw, client="127.0.0.1", request_id="req_test")


def body_of(resp: HttpResponse) -> Any:
    return orjson.loads(resp.body)


@pytest.fixture
def changed() -> list[str]:
    return []


@pytest.fixture
def admin(sqlite_store: SqlKeyStore, changed: list[str]) -> AdminRoutes:
    return AdminRoutes(sqlite_store, AdminAuth(Secret(ADMIN)), known_policies={"strict"},
                       known_models={"gpt-4o-mini", "smart"}, known_teams={"payments", "search", "t1", "t2"},
                       on_change=changed.append, clock=lambda: NOW)


async def create(admin: AdminRoutes, **body: object) -> dict[str, Any]:
    resp = await admin.dispatch(request("POST", "/admin/keys", {"name": "svc", **body}))
    assert resp.status == 201
    data: dict[str, Any] = body_of(resp)
    return data


async def test_create_returns_the_key_once_with_the_record(admin: AdminRoutes, sqlite_store: SqlKeyStore,
                                                           changed: list[str]) -> None:
    resp = await admin.dispatch(request("POST", "/admin/keys", {
        "name": "billing-svc", "team": "payments", "models": ["smart", "gpt-4o-mini"], "policy": "strict",
        "rpm": 60, "tpm": 1000, "max_parallel": 3, "budget_usd": 25, "budget_period": "day",
        "model_limits": {"smart": {"rpm": 5}}, "expires": "2030-01-01"}))
    assert resp.status == 201 and resp.headers["cache-control"] == "no-store"
    data = body_of(resp)
    parsed = keys.parse(data["key"])
    assert parsed is not None and parsed[0] == data["id"]
    assert "cannot be shown again" in data["warning"]
    assert data["models"] == ["smart", "gpt-4o-mini"] and data["budget_usd_micros"] == 25_000_000
    assert data["model_limits"] == {"smart": {"rpm": 5, "tpm": None}}
    assert data["expires_at"] == "2030-01-01T00:00:00Z" and data["status"] == "active"
    assert "secret_hash" not in data
    assert changed == [data["id"]]
    record = await sqlite_store.get(data["id"])
    assert record is not None and record.secret_hash == keys.hash_secret(parsed[1])
    # the plaintext never comes back: not from list, not from get
    for resp in (await admin.dispatch(request("GET", "/admin/keys")),
                 await admin.dispatch(request("GET", f"/admin/keys/{data['id']}"))):
        assert parsed[1].encode() not in resp.body and record.secret_hash.encode() not in resp.body
        assert b"secret_hash" not in resp.body


async def test_list_get_and_filters(admin: AdminRoutes) -> None:
    a = await create(admin, team="t1")
    b = await create(admin, name="other", team="t2")
    await admin.dispatch(request("DELETE", f"/admin/keys/{b['id']}"))
    listed = body_of(await admin.dispatch(request("GET", "/admin/keys")))["data"]
    assert [k["id"] for k in listed] == [a["id"]]
    everything = body_of(await admin.dispatch(request("GET", "/admin/keys", query={"all": "true"})))["data"]
    assert {k["id"]: k["status"] for k in everything} == {a["id"]: "active", b["id"]: "revoked"}
    team = body_of(await admin.dispatch(request("GET", "/admin/keys", query={"team": "t1", "all": "1"})))
    assert [k["id"] for k in team["data"]] == [a["id"]]
    got = body_of(await admin.dispatch(request("GET", f"/admin/keys/{a['id']}")))
    assert got["name"] == "svc" and "key" not in got


@pytest.mark.parametrize("how", ["DELETE", "POST"])
async def test_revoke_is_honoured_by_the_authenticator_at_once(admin: AdminRoutes, sqlite_store: SqlKeyStore,
                                                               how: str) -> None:
    auth = Authenticator(sqlite_store, ttl_seconds=5.0)
    admin._on_change = auth.invalidate
    created = await create(admin)
    assert (await auth.authenticate(None, created["key"])).key_id == created["id"]
    path = f"/admin/keys/{created['id']}" + ("/revoke" if how == "POST" else "")
    resp = await admin.dispatch(request(how, path))
    assert resp.status == 200 and body_of(resp)["status"] == "revoked"
    with pytest.raises(AuthenticationError, match=REVOKED):
        await auth.authenticate(None, created["key"])
    again = await admin.dispatch(request(how, path))  # idempotent
    assert again.status == 200 and body_of(again)["status"] == "revoked"


async def test_update_changes_only_the_fields_sent(admin: AdminRoutes) -> None:
    created = await create(admin, rpm=60, tpm=1000, budget_usd=5)
    resp = await admin.dispatch(request("PATCH", f"/admin/keys/{created['id']}",
                                        {"rpm": 10, "tpm": None, "model_limits": {"smart": {"tpm": 9}}}))
    data = body_of(resp)
    assert (data["rpm"], data["tpm"], data["budget_usd_micros"]) == (10, None, 5_000_000)
    assert data["model_limits"] == {"smart": {"rpm": None, "tpm": 9}}
    await admin.dispatch(request("DELETE", f"/admin/keys/{created['id']}"))
    with pytest.raises(InvalidRequest) as e:
        await admin.dispatch(request("PATCH", f"/admin/keys/{created['id']}", {"rpm": 1}))
    assert e.value.status == 409


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "a\r\nFAKE LOG LINE"}, "name"),
    ({"name": "a", "color": "red"}, "color"),
    ({"name": "a", "rpm": -1}, "rpm"),
    ({"name": "a", "rpm": "60"}, "rpm"),
    ({"name": "a", "tpm": 1.5}, "tpm"),
    ({"name": "a", "max_parallel": True}, "max_parallel"),
    ({"name": "a", "budget_usd": -5}, "budget_usd"),
    ({"name": "a", "budget_usd": "lots"}, "budget_usd"),
    ({"name": "a", "budget_usd": 5, "budget_period": "year"}, "budget_period"),
    ({"name": "a", "budget_period": "day"}, "budget_period"),
    ({"name": "a", "models": []}, "models"),
    ({"name": "a", "models": ["gpt-9"]}, "models"),
    ({"name": "a", "model_limits": {"gpt-9": {"rpm": 1}}}, "model_limits"),
    ({"name": "a", "model_limits": {"smart": {"rpm": 1, "burst": 2}}}, "model_limits"),
    ({"name": "a", "policy": "lenient"}, "policy"),
    ({"name": "a", "expires": "2001-01-01"}, "expires"),
    ({"name": "a", "expires": "next tuesday"}, "expires"),
    ({"name": "a", "team": "x" * 65}, "team"),
    ({"name": "a", "team": "paymnets"}, "team"),  # undeclared: it would escape the team's limits
])
async def test_invalid_create_bodies_are_400_naming_the_field(admin: AdminRoutes, sqlite_store: SqlKeyStore,
                                                              body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        await admin.dispatch(request("POST", "/admin/keys", body))
    assert e.value.status == 400
    assert e.value.param == field and e.value.message.startswith(field)
    assert await sqlite_store.list(include_revoked=True) == []


async def test_default_policy_and_non_json_bodies(admin: AdminRoutes) -> None:
    assert (await create(admin, policy="default"))["policy"] == "default"
    for raw in (b"", b"[1]", b"{nope"):
        with pytest.raises(InvalidRequest):
            await admin.dispatch(request("POST", "/admin/keys", raw))


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/admin/keys"), ("GET", "/admin/keys"), ("GET", "/admin/keys/abcdefghijkl"),
    ("PATCH", "/admin/keys/abcdefghijkl"), ("DELETE", "/admin/keys/abcdefghijkl"),
    ("POST", "/admin/keys/abcdefghijkl/revoke"), ("GET", "/admin/nothing-here"),
])
async def test_every_admin_route_refuses_virtual_keys_and_strangers(admin: AdminRoutes, method: str,
                                                                    path: str) -> None:
    virtual = (await create(admin))["key"]
    for token in (virtual, "", "not-the-admin-key-at-all"):
        with pytest.raises(AuthenticationError):
            await admin.dispatch(request(method, path, {"name": "x"}, token=token))
    for route_method, pattern, handler in admin.routes():  # handlers check too, when mounted one by one
        if route_method == method and match_path(pattern, path) is not None:
            with pytest.raises(AuthenticationError):
                await handler(request(method, path, {"name": "x"}, token=virtual))


async def test_unknown_ids_routes_and_methods(admin: AdminRoutes) -> None:
    for path in ("/admin/keys/abcdefghijkl", "/admin/keys/..%2f..", "/admin/keys/ABCDEFGHIJKL"):
        with pytest.raises(NotFound):
            await admin.dispatch(request("GET", path))
    with pytest.raises(NotFound):
        await admin.dispatch(request("DELETE", "/admin/keys/abcdefghijkl"))
    with pytest.raises(NotFound):
        await admin.dispatch(request("GET", "/admin/users"))
    with pytest.raises(InvalidRequest) as e:
        await admin.dispatch(request("PUT", "/admin/keys"))
    assert e.value.status == 405 and e.value.headers["allow"] == "POST, GET"


def test_route_table_and_matcher(sqlite_store: SqlKeyStore) -> None:
    table = admin_routes(sqlite_store, AdminAuth(Secret(ADMIN)))
    assert [(m, p) for m, p, _ in table] == [
        ("POST", "/admin/keys"), ("GET", "/admin/keys"), ("GET", "/admin/keys/{id}"),
        ("PATCH", "/admin/keys/{id}"), ("DELETE", "/admin/keys/{id}"), ("POST", "/admin/keys/{id}/revoke")]
    assert match_path("/admin/keys/{id}", "/admin/keys/abc/") == {"id": "abc"}
    assert match_path("/admin/keys/{id}", "/admin/keys/") is None
    assert match_path("/admin/keys/{id}/revoke", "/admin/keys/abc/delete") is None


async def test_extra_routes_are_served_only_behind_the_admin_key(sqlite_store: SqlKeyStore) -> None:
    async def usage(req: HttpRequest) -> HttpResponse:
        return HttpResponse.json({"object": "usage"})

    admin = AdminRoutes(sqlite_store, AdminAuth(Secret(ADMIN)), extra_routes=[("GET", "/admin/usage", usage)])
    assert body_of(await admin.dispatch(request("GET", "/admin/usage"))) == {"object": "usage"}
    with pytest.raises(AuthenticationError):
        await admin.dispatch(request("GET", "/admin/usage", token=keys.generate()[1]))


class _RefusingWriter:
    """An audit writer whose log cannot take a record (store down, buffer full, on_error: block)."""

    def __init__(self) -> None:
        self.submitted: list[object] = []

    def check(self) -> bool:
        from bastion.core.errors import ServiceUnavailable
        raise ServiceUnavailable("audit log unavailable: records cannot be stored", code="audit_unavailable")


class _Stage:
    enabled, sync, failures = True, False, 0

    def __init__(self, writer: object) -> None:
        self.writer = writer


async def test_a_key_change_the_audit_log_cannot_record_is_refused_before_it_is_made(
        sqlite_store: SqlKeyStore, changed: list[str]) -> None:
    from bastion.audit.admin import AdminAudit
    from bastion.core.errors import ServiceUnavailable

    plain = AdminRoutes(sqlite_store, AdminAuth(Secret(ADMIN)), on_change=changed.append, clock=lambda: NOW)
    made = await create(plain)  # with a working log (none here): made
    audited = AdminRoutes(sqlite_store, AdminAuth(Secret(ADMIN)), on_change=changed.append, clock=lambda: NOW,
                          audit=AdminAudit(_Stage(_RefusingWriter())))  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailable) as e:
        await audited.dispatch(request("POST", "/admin/keys", {"name": "unrecorded"}))
    assert e.value.status == 503 and e.value.code == "audit_unavailable"
    for method, path, body in (("PATCH", f"/admin/keys/{made['id']}", {"rpm": 5}),
                               ("DELETE", f"/admin/keys/{made['id']}", None)):
        with pytest.raises(ServiceUnavailable):
            await audited.dispatch(request(method, path, body))
    records = await sqlite_store.list(include_revoked=True)
    assert [r.name for r in records] == ["svc"]  # nothing was created
    assert records[0].revoked_at is None and records[0].spec.limits.rpm is None  # nor changed
    assert changed == [made["id"]]
