"""The web session store: tokens kept only as hashes, idle and absolute expiry, signing out everywhere,
the sign-in rate limit per user and per client, saved work readable by its author and admins only, and the
signed cookie and one-time handoff of a new token to the cookie endpoint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from xiaoshen.errors import XiaoshenError
from xiaoshen.sessions import (
    SessionStore,
    SignInLimits,
    claim_token,
    offer_token,
    open_session_store,
    sign,
    signing_key,
    token_hash,
    unsign,
)
from xiaoshen.settings import AccessSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SessionStore:
    return SessionStore(tmp_path / "sessions.sqlite", idle_s=8 * 3600, max_s=24 * 3600,
                        limits=SignInLimits(per_user=3, per_client=5, window_s=900), clock=clock)


def test_a_token_is_256_random_bits_and_only_its_hash_is_stored(store: SessionStore) -> None:
    token = store.create("officer", "10.0.0.1")
    assert len(token) >= 43 and token != store.create("officer", "10.0.0.1")
    dump = "\n".join(sqlite3.connect(store.path).iterdump())
    assert token not in dump and token_hash(token) in dump
    assert store.resolve(token).session.username == "officer"  # type: ignore[union-attr]
    assert store.resolve(token_hash(token)).session is None, "the stored hash is no token"


def test_a_session_idle_longer_than_the_limit_expires_and_use_keeps_it_alive(store: SessionStore,
                                                                           clock: Clock) -> None:
    busy, idle = store.create("officer", "a"), store.create("risk", "b")
    for _ in range(3):  # used every 7 hours: 21 hours in, still on
        clock.now += 7 * 3600
        assert store.resolve(busy).session is not None
    resolved = store.resolve(idle)
    assert resolved.session is None and resolved.expired is not None and resolved.expired.username == "risk"
    assert store.resolve(idle).expired is None, "an expired session is reported once, then gone"
    clock.now += 4 * 3600  # 25 hours after sign-in: over, however busy
    assert store.resolve(busy).expired is not None


def test_signing_out_ends_every_session_of_that_user_only(store: SessionStore) -> None:
    laptop, phone, other = store.create("officer", "a"), store.create("officer", "b"), store.create("risk", "c")
    assert store.end_all("officer") == 2
    assert store.resolve(laptop).session is None and store.resolve(phone).session is None
    assert store.resolve(laptop).expired is None, "signed out is not expired"
    assert store.resolve(other).session is not None


def test_failed_sign_ins_are_counted_per_user_and_refused_over_the_limit(store: SessionStore, clock: Clock) -> None:
    for attempt in range(3):
        assert store.blocked_for("officer", "10.0.0.1") == 0, attempt
        store.record_failure("officer", "10.0.0.1")
        clock.now += 10
    assert store.failures("officer", "10.0.0.1") == (3, 3)
    wait = store.blocked_for("officer", "10.0.0.1")
    assert 0 < wait <= 900
    assert store.blocked_for("officer", "10.0.0.9") > 0, "the user's limit holds from any client"
    assert store.blocked_for("risk", "10.0.0.2") == 0, "other users are not affected"
    clock.now += wait
    assert store.blocked_for("officer", "10.0.0.1") == 0, "the window passes and a try is allowed again"


def test_one_client_guessing_many_usernames_is_refused(store: SessionStore) -> None:
    for n in range(5):
        store.record_failure(f"name{n}", "10.6.6.6")
    assert store.blocked_for("someone-new", "10.6.6.6") > 0
    assert store.blocked_for("someone-new", "10.0.0.1") == 0
    store.clear_failures("name0")  # a correct password clears that user's count, not the client's
    assert store.failures("name0", "10.6.6.6") == (0, 5)


def test_saved_work_is_readable_by_its_author_and_admins_only(store: SessionStore) -> None:
    store.save_work("officer", "note", {"note_md": "# APP-002 edited"})
    store.save_work("officer", "note", {"note_md": "# APP-002 edited again"})
    assert store.load_work("officer", "note", reader="officer", reader_is_admin=False) == {
        "note_md": "# APP-002 edited again"}
    assert store.load_work("officer", "note", reader="admin", reader_is_admin=True) is not None
    with pytest.raises(XiaoshenError, match="may not read officer's saved work"):
        store.load_work("officer", "note", reader="risk", reader_is_admin=False)
    assert store.load_work("officer", "chat", reader="officer", reader_is_admin=False) is None
    assert store.path.stat().st_mode & 0o077 == 0, "the file is readable by the server's account only"


def test_the_cookie_is_signed_and_a_forged_one_is_refused(tmp_path: Path) -> None:
    key = signing_key(tmp_path / "sessions.key")
    assert key == signing_key(tmp_path / "sessions.key") and len(key) == 32
    value = sign("tok", key)
    assert unsign(value, key) == "tok"
    assert unsign("tok." + "0" * 64, key) is None and unsign("tok", key) is None
    assert unsign(value, signing_key(tmp_path / "other.key")) is None


def test_a_new_token_is_handed_over_once_and_lapses() -> None:
    code = offer_token("the-token")
    assert claim_token(code) == "the-token"
    assert claim_token(code) is None, "a code works once"
    late = offer_token("late", clock=lambda: 0.0)
    assert claim_token(late, clock=lambda: 10_000.0) is None


def test_the_settings_choose_the_store_beside_the_audit_log(tmp_path: Path) -> None:
    access = AccessSettings(audit_log=tmp_path / "audit.jsonl", session_idle_hours=1, sign_in_failures_per_user=2)
    store = open_session_store(access)
    assert store.path == tmp_path / "sessions.sqlite" and store.idle_s == 3600 and store.limits.per_user == 2
