"""Users, roles and sign-in: a TOML file of users with bcrypt password hashes and their roles.

Roles decide two things: which pages a user sees (admins manage the library and read the audit
log) and which documents they may read (a document's `access` labels name the roles allowed;
retrieval filters on them inside the store query, see `ClauseFilter.for_roles`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import bcrypt
from pydantic import BaseModel, Field, ValidationError, field_validator

from xiaoshen.errors import XiaoshenError

Role = Literal["officer", "risk", "admin"]
ROLES: tuple[str, ...] = ("officer", "risk", "admin")


class User(BaseModel):
    """A signed-in person: login name, display name, e-mail (for OIDC sign-in) and roles."""

    username: str
    name: str
    email: str | None = None
    roles: list[Role] = Field(min_length=1)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class UserRecord(User):
    password_hash: str = Field(repr=False)

    @field_validator("password_hash")
    @classmethod
    def _is_bcrypt(cls, value: str) -> str:
        if not value.startswith(("$2a$", "$2b$", "$2y$")):
            raise ValueError("must be a bcrypt hash (make one with `xiaoshen users hash`)")
        return value


class UserDirectory(BaseModel):
    """Everyone who may sign in, by username."""

    users: dict[str, UserRecord]

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        """Read and validate the users file; a clear error names the file and the bad entry."""
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise XiaoshenError(f"Users file {path} not found",
                                "set XIAOSHEN_ACCESS__USERS_FILE or create it with `xiaoshen users add`") from None
        except tomllib.TOMLDecodeError as exc:
            raise XiaoshenError(f"Users file {path} is not valid TOML: {exc}") from exc
        entries = raw.get("users", {})
        try:
            users = {name: UserRecord(username=name, **entry) for name, entry in entries.items()}
        except (ValidationError, TypeError) as exc:
            raise XiaoshenError(f"Users file {path} has an invalid entry: {exc}") from exc
        return cls(users=users)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches its hash; None otherwise (no hint which part was wrong)."""
        record = self.users.get(username.strip())
        if record is None:
            # Spend the same time as a real check so response time does not reveal valid usernames.
            bcrypt.checkpw(password.encode(), _DUMMY_HASH)
            return None
        if not bcrypt.checkpw(password.encode(), record.password_hash.encode()):
            return None
        return User.model_validate(record.model_dump(exclude={"password_hash"}))

    def by_email(self, email: str) -> User | None:
        """The user an OIDC identity maps to, matched case-insensitively by e-mail."""
        for record in self.users.values():
            if record.email and record.email.lower() == email.lower():
                return User.model_validate(record.model_dump(exclude={"password_hash"}))
        return None


def hash_password(password: str) -> str:
    """A bcrypt hash of `password` for the users file."""
    if len(password) < 8:
        raise XiaoshenError("Password too short", "use at least 8 characters")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def add_user(path: Path, username: str, name: str, roles: list[str], password: str,
             email: str | None = None) -> None:
    """Add or replace one user in the users file, keeping the others as they are."""
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise XiaoshenError(f"Unknown role(s) {bad or roles}", "roles are: " + ", ".join(ROLES))
    directory = UserDirectory.load(path) if path.exists() else UserDirectory(users={})
    directory.users[username] = UserRecord(username=username, name=name, email=email, roles=roles,  # type: ignore[arg-type]
                                           password_hash=hash_password(password))
    lines = ["# Xiaoshen users: bcrypt password hashes and roles (officer, risk, admin).", ""]
    for key, record in sorted(directory.users.items()):
        lines += [f"[users.{_toml_key(key)}]", f"name = {_toml_str(record.name)}"]
        if record.email:
            lines.append(f"email = {_toml_str(record.email)}")
        lines += ["roles = [" + ", ".join(_toml_str(r) for r in record.roles) + "]",
                  f"password_hash = {_toml_str(record.password_hash)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() and key.isascii() else _toml_str(key)


# A fixed hash of a throwaway password, same cost as real ones, for unknown usernames.
_DUMMY_HASH = b"$2b$12$T9JmE5rgiohTtdEn.eM/9eth05bPuR.jgXQd/xhlc9VRw6ceyO2GC"
