"""Admin API for virtual keys under /admin/keys, behind the separate admin credential."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence, Set

from bastion.audit.admin import AdminAudit, AdminChange
from bastion.auth import keys
from bastion.auth.admin_key import AdminAuth
from bastion.auth.record import KeyRecord
from bastion.auth.spec import parse_key_request, parse_update_request
from bastion.auth.store import KeyStore, issue_key
from bastion.core.errors import InvalidRequest, NotFound
from bastion.http.gate import Admission, Passed
from bastion.http.types import HttpRequest, HttpResponse

log = logging.getLogger("bastion.admin")

AdminHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]
Route = tuple[str, str, AdminHandler]
SHOWN_ONCE = "store this key now; it cannot be shown again"
_NO_STORE = {"cache-control": "no-store"}


def match_path(pattern: str, path: str) -> dict[str, str] | None:
    """Path parameters of `path` against `pattern` ("/admin/keys/{id}"), or None if it does not match."""
    want = pattern.strip("/").split("/")
    got = path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for w, g in zip(want, got, strict=True):
        if w.startswith("{") and w.endswith("}"):
            if not g:
                return None
            params[w[1:-1]] = g
        elif w != g:
            return None
    return params


class AdminRoutes:
    """The key-management handlers. Every handler checks the admin credential itself, so no route
    can be mounted without it. `on_change(key_id)` is called after a create, revoke or update
    (wire it to Authenticator.invalidate so this process honours the change at once).
    `extra_routes` (e.g. GET /admin/usage) are served by `dispatch` after the same check."""

    KEYS = "/admin/keys"
    KEY = "/admin/keys/{id}"
    REVOKE = "/admin/keys/{id}/revoke"

    def __init__(self, store: KeyStore, admin_auth: AdminAuth, *,
                 known_policies: Set[str] | None = None, known_models: Set[str] | None = None,
                 known_teams: Set[str] | None = None,
                 on_change: Callable[[str], None] | None = None,
                 extra_routes: Sequence[Route] = (),
                 clock: Callable[[], float] = time.time,
                 audit: AdminAudit | None = None) -> None:
        self._extra = list(extra_routes)
        self._audit = audit
        self._store = store
        self._auth = admin_auth
        self._policies = known_policies
        self._models = known_models
        self._teams = known_teams
        self._on_change = on_change
        self._clock = clock

    def routes(self) -> list[Route]:
        """(method, path pattern, handler) for every admin route."""
        return [
            ("POST", self.KEYS, self.create_key),
            ("GET", self.KEYS, self.list_keys),
            ("GET", self.KEY, self.get_key),
            ("PATCH", self.KEY, self.update_key),
            ("DELETE", self.KEY, self.revoke_key),
            ("POST", self.REVOKE, self.revoke_key),
        ]

    async def gate(self, head: HttpRequest) -> Admission:
        """The admin credential from the head of an /admin/* request, before its body is read (the
        `Gated` route of the ASGI layer); raises as `dispatch` does, else admits it to `_route`."""
        self._check(head)
        return Passed(self._route)

    async def dispatch(self, req: HttpRequest) -> HttpResponse:
        """Authenticate, then route one /admin/* request (404 unknown path, 405 wrong method).
        Authentication comes first so that the route layout is not revealed to strangers."""
        self._check(req)
        return await self._route(req)

    async def _route(self, req: HttpRequest) -> HttpResponse:
        allowed: list[str] = []
        for method, pattern, handler in self.routes() + self._extra:
            if match_path(pattern, req.path) is not None:
                if method == req.method.upper():
                    return await handler(req)
                allowed.append(method)
        if allowed:
            raise InvalidRequest(f"method {req.method} not allowed here; use {', '.join(allowed)}",
                                 status=405, code="method_not_allowed", headers={"allow": ", ".join(allowed)})
        raise NotFound(f"no admin route {req.path}", code="not_found")

    def _check(self, req: HttpRequest) -> None:
        self._auth.check(req.headers.get("authorization"), req.client)

    def _audited(self, action: str, req: HttpRequest) -> contextlib.AbstractAsyncContextManager[AdminChange]:
        """The audit record of one key change (audit/admin.py): admitted now (503 when the audit log
        cannot take it), written once the handler marks the change done."""
        if self._audit is None:
            return contextlib.nullcontext(AdminChange())
        return self._audit.change(action, req.request_id, req.client)

    def _changed(self, key_id: str) -> None:
        if self._on_change is not None:
            self._on_change(key_id)

    def _key_id(self, req: HttpRequest, pattern: str) -> str:
        params = match_path(pattern, req.path)
        key_id = params.get("id", "") if params else ""
        if not keys.is_key_id(key_id):
            raise NotFound("no such key", code="key_not_found", param="id")
        return key_id

    async def _existing(self, key_id: str) -> KeyRecord:
        record = await self._store.get(key_id)
        if record is None:
            raise NotFound("no such key", code="key_not_found", param="id")
        return record

    async def create_key(self, req: HttpRequest) -> HttpResponse:
        """POST /admin/keys → 201 with the plaintext key (shown this once) and the record."""
        self._check(req)
        now = self._clock()
        sent = req.json()
        spec = parse_key_request(sent).to_spec(now, self._policies, self._models, self._teams)
        async with self._audited("create", req) as change:
            issued = await issue_key(self._store, spec, now)
            change.key_id, change.team, change.fields, change.done = (
                issued.record.id, issued.record.team, tuple(sent), True)
        self._changed(issued.record.id)
        log.info("admin created key id=%s", issued.record.id)
        body = {"key": issued.plaintext, "warning": SHOWN_ONCE, **issued.record.public_view(now)}
        return HttpResponse.json(body, status=201, headers=dict(_NO_STORE))

    async def list_keys(self, req: HttpRequest) -> HttpResponse:
        """GET /admin/keys[?all=true][&team=T] → {"data": [...]}; never secrets nor hashes."""
        self._check(req)
        include = req.query.get("all", "").lower() in ("1", "true", "yes")
        team = req.query.get("team") or None
        records = await self._store.list(include_revoked=include, team=team)
        now = self._clock()
        return HttpResponse.json({"object": "list", "data": [r.public_view(now) for r in records]},
                                 headers=dict(_NO_STORE))

    async def get_key(self, req: HttpRequest) -> HttpResponse:
        """GET /admin/keys/{id}."""
        self._check(req)
        record = await self._existing(self._key_id(req, self.KEY))
        return HttpResponse.json(record.public_view(self._clock()), headers=dict(_NO_STORE))

    async def update_key(self, req: HttpRequest) -> HttpResponse:
        """PATCH /admin/keys/{id} with any of name, team, models, policy, expires, rpm, tpm,
        max_parallel, budget_usd, budget_period, model_limits; only the fields sent change (null
        clears one, except name). → the updated record (never the secret). A revoked key cannot be
        changed (409), so an update never brings one back; an expired key can be given a new expiry."""
        self._check(req)
        key_id = self._key_id(req, self.KEY)
        changes = parse_update_request(req.json())
        record = await self._existing(key_id)
        if record.revoked_at is not None:
            raise InvalidRequest("key is revoked; create a new one", status=409, code="key_revoked")
        spec, fields = changes.apply_to(record.spec, self._clock(), self._policies, self._models, self._teams)
        async with self._audited("update", req) as change:
            if not await self._store.update(key_id, spec, fields):  # revoked meanwhile: the write is refused
                raise InvalidRequest("key is revoked; create a new one", status=409, code="key_revoked")
            change.key_id, change.team, change.fields, change.done = key_id, spec.team, changes.changed(), True
        self._changed(key_id)
        log.info("admin updated key id=%s fields=%s", key_id, ",".join(changes.changed()) or "-")
        return HttpResponse.json((await self._existing(key_id)).public_view(self._clock()),
                                 headers=dict(_NO_STORE))

    async def revoke_key(self, req: HttpRequest) -> HttpResponse:
        """DELETE /admin/keys/{id} or POST /admin/keys/{id}/revoke → the revoked record (idempotent)."""
        self._check(req)
        pattern = self.REVOKE if req.path.rstrip("/").endswith("/revoke") else self.KEY
        key_id = self._key_id(req, pattern)
        async with self._audited("revoke", req) as change:
            if await self._store.revoke(key_id, self._clock()):  # False: already revoked (or no such key)
                log.info("admin revoked key id=%s", key_id)
                revoked = await self._store.get(key_id)
                change.key_id, change.team, change.done = key_id, revoked.team if revoked else None, True
        record = await self._existing(key_id)
        self._changed(key_id)
        return HttpResponse.json(record.public_view(self._clock()), headers=dict(_NO_STORE))


def admin_routes(store: KeyStore, admin_auth: AdminAuth, *, known_policies: Set[str] | None = None,
                 known_models: Set[str] | None = None,
                 on_change: Callable[[str], None] | None = None) -> list[Route]:
    return AdminRoutes(store, admin_auth, known_policies=known_policies, known_models=known_models,
                       on_change=on_change).routes()
