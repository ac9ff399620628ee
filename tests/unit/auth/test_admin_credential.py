"""AdminAuth: only the admin key opens /admin; virtual keys never do; constant-time; throttled."""

from __future__ import annotations

import hmac

import pytest

from bastion.auth import admin_key, keys
from bastion.auth.admin_key import AdminAuth
from bastion.auth.throttle import FailureThrottle
from bastion.core.errors import AuthenticationError, PermissionDenied, RateLimited
from bastion.core.secret import Secret

ADMIN = "adm_test_0123456789abcdef0123456789"


def refusal(auth: AdminAuth, authorization: str | None, client: str | None = None) -> str:
    with pytest.raises(AuthenticationError) as e:
        auth.check(authorization, client)
    assert e.value.status == 401
    assert ADMIN not in e.value.message
    return e.value.message


def test_admin_key_is_accepted() -> None:
    auth = AdminAuth(Secret(ADMIN))
    auth.check(f"Bearer {ADMIN}")
    auth.check(f"bearer  {ADMIN} ")


def test_virtual_key_is_refused_at_admin_routes() -> None:
    auth = AdminAuth(Secret(ADMIN))
    assert "virtual keys cannot be used on the admin API" in refusal(auth, f"Bearer {keys.generate()[1]}")


def test_wrong_missing_and_malformed_admin_credentials() -> None:
    auth = AdminAuth(Secret(ADMIN))
    assert refusal(auth, None).startswith("missing admin key")
    assert refusal(auth, "").startswith("missing admin key")
    assert refusal(auth, f"Basic {ADMIN}").startswith("malformed admin credential")
    assert refusal(auth, "Bearer ").startswith("malformed admin credential")
    assert refusal(auth, f"Bearer {ADMIN}x") == "invalid admin key"
    assert refusal(auth, f"Bearer {ADMIN[:-1]}") == "invalid admin key"
    assert refusal(auth, "Bearer " + "x" * 100_000) == "invalid admin key"


def test_disabled_admin_api_refuses_everything() -> None:
    auth = AdminAuth(None)
    assert not auth.enabled
    with pytest.raises(PermissionDenied) as e:
        auth.check(f"Bearer {ADMIN}")
    assert e.value.code == "admin_disabled"
    assert not AdminAuth(Secret("")).enabled


def test_comparison_is_constant_time_over_fixed_length_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(admin_key.hmac, "compare_digest", spy)
    auth = AdminAuth(Secret(ADMIN))
    auth.check(f"Bearer {ADMIN}")
    refusal(auth, "Bearer short")
    assert seen == [(32, 32), (32, 32)]  # lengths never depend on the presented value


def test_failed_admin_attempts_are_throttled_per_address() -> None:
    now = [0.0]
    auth = AdminAuth(Secret(ADMIN), FailureThrottle(max_failures=3, window_seconds=30, clock=lambda: now[0]))
    for _ in range(3):
        refusal(auth, "Bearer guess-guess-guess-guess", client="192.0.2.1")
    with pytest.raises(RateLimited):
        auth.check(f"Bearer {ADMIN}", "192.0.2.1")
    auth.check(f"Bearer {ADMIN}", "192.0.2.2")
    now[0] += 10.0
    auth.check(f"Bearer {ADMIN}", "192.0.2.1")


def test_secret_never_shows_in_repr() -> None:
    auth = AdminAuth(Secret(ADMIN))
    assert ADMIN not in repr(auth.__dict__)


def test_an_admin_key_shaped_like_a_virtual_key_is_rejected_at_start() -> None:
    with pytest.raises(ValueError, match="must not start with bst_"):
        AdminAuth(Secret(keys.generate()[1]))


def test_ipv6_guessers_are_throttled_per_64_whatever_address_they_take() -> None:
    """A host owns a whole /64: rotating the interface id must not buy more guesses."""
    now = [0.0]
    auth = AdminAuth(Secret(ADMIN), FailureThrottle(max_failures=3, window_seconds=30, clock=lambda: now[0]))
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:DB8:1:2:ffff:ffff:ffff:ffff"):
        refusal(auth, "Bearer guess-guess-guess-guess", client=host)
    with pytest.raises(RateLimited):
        auth.check(f"Bearer {ADMIN}", "2001:db8:1:2:abcd::9")
    auth.check(f"Bearer {ADMIN}", "2001:db8:1:3::1")  # the next /64 is someone else


def test_ipv4_mapped_ipv6_counts_with_its_ipv4_address() -> None:
    now = [0.0]
    auth = AdminAuth(Secret(ADMIN), FailureThrottle(max_failures=2, window_seconds=30, clock=lambda: now[0]))
    refusal(auth, "Bearer guess-guess-guess-guess", client="::ffff:192.0.2.7")
    refusal(auth, "Bearer guess-guess-guess-guess", client="192.0.2.7")
    with pytest.raises(RateLimited):
        auth.check(f"Bearer {ADMIN}", "::ffff:192.0.2.7")
    with pytest.raises(RateLimited):
        auth.check(f"Bearer {ADMIN}", "192.0.2.7")
    auth.check(f"Bearer {ADMIN}", "fe80::1%eth0")  # an unrelated (scoped) address is not throttled


def test_throttle_sources() -> None:
    from bastion.auth.throttle import source
    assert source("192.0.2.1") == "192.0.2.1"
    assert source("2001:db8::7") == "2001:db8::/64"
    assert source("fe80::1%eth0") == "fe80::/64"
    assert source("not:an:address") == "not:an:address"
