"""API keys and who may do what: a key is a name, a role and the SHA-256 of a random token.

Only the hash is stored (a keys file, or the ``api_keys`` setting), so a leaked file or setting
gives no one a key. The tokens are 256 random bits, not passwords: a plain SHA-256 cannot be
guessed back, and a slow password hash would only slow every request. ``read`` may ask, search
and read documents; ``admin`` may also ingest, sync and remove.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from values.errors import ConfigError
from values.files import atomic_write

Role = Literal["read", "admin"]
ROLES: tuple[Role, ...] = ("read", "admin")
PREFIX = "vbk_"
"""Every token starts with it, so a secret scanner (and a person) can recognise one."""


@dataclass(frozen=True)
class Key:
    """One stored key: its name, role and the hex SHA-256 of its token."""

    name: str
    role: Role
    sha256: str
    created: str = ""

    def allows(self, role: Role) -> bool:
        """True when this key may act as ``role`` (admin may do everything read may)."""
        return role == "read" or self.role == "admin"


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (shown once, never stored)."""
    return PREFIX + secrets.token_urlsafe(32)


def parse_setting(entry: str) -> Key:
    """A key from the ``api_keys`` setting's form ``name:role:sha256``; ConfigError names the entry."""
    parts = entry.strip().split(":")
    if len(parts) != 3 or parts[1] not in ROLES or len(parts[2]) != 64:
        shown = parts[0] if parts else ""
        raise ConfigError(f"API key entry {shown!r} is not name:role:sha256 (role read or admin, "
                          'sha256 as 64 hex digits of the key: `printf %s "$KEY" | sha256sum`)')
    try:
        int(parts[2], 16)
    except ValueError as e:
        raise ConfigError(f"API key entry {parts[0]!r}: the sha256 is not hexadecimal") from e
    return Key(parts[0], parts[1], parts[2].lower())  # type: ignore[arg-type]


class Keys:
    """The keys in force: those of the keys file plus those the settings name."""

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._keys = list(keys)

    @classmethod
    def load(cls, path: Path | None, entries: Iterable[str] = ()) -> Keys:
        """The keys of ``path`` (when it exists) and of the setting ``entries``."""
        keys = [parse_setting(e) for e in entries]
        if path is not None and path.exists():
            keys.extend(read_file(path))
        return cls(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._keys)

    def find(self, token: str) -> Key | None:
        """The key whose token this is, compared in constant time; None for any other string."""
        wanted = digest(token)
        found = None
        for key in self._keys:
            if hmac.compare_digest(key.sha256, wanted):
                found = key
        return found

    def named(self, name: str) -> Key | None:
        """The key called ``name`` (the page's signed-in user), if any."""
        return next((k for k in self._keys if k.name == name), None)

    def login(self, name: str, token: str) -> Key | None:
        """The key named ``name`` when ``token`` is its token (the page's sign-in)."""
        key = self.find(token)
        return key if key is not None and hmac.compare_digest(key.name, name) else None


def read_file(path: Path) -> list[Key]:
    """The keys stored in ``path``; ConfigError naming the file when it is not a keys file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Key(k["name"], k["role"], k["sha256"], k.get("created", "")) for k in data["keys"]
                if k["role"] in ROLES]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a readable keys file ({e}); `vraagbaak keys list` shows what it holds") from e


def add_key(path: Path, name: str, role: Role) -> str:
    """Store a new key named ``name`` in ``path`` and return its token (the only time it is seen)."""
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name or ":" in name or name != name.strip():
        raise ConfigError(f"key name {name!r} must be non-empty, without ':' or surrounding spaces")
    keys = read_file(path) if path.exists() else []
    if any(k.name == name for k in keys):
        raise ConfigError(f"a key named {name!r} exists in {path}: remove it first or choose another name")
    token = new_token()
    created = datetime.now(UTC).isoformat(timespec="seconds")
    write_file(path, [*keys, Key(name, role, digest(token), created)])
    return token


def remove_key(path: Path, name: str) -> bool:
    """Drop the key named ``name`` from ``path``; False when there was none."""
    keys = read_file(path) if path.exists() else []
    kept = [k for k in keys if k.name != name]
    if len(kept) == len(keys):
        return False
    write_file(path, kept)
    return True


def write_file(path: Path, keys: list[Key]) -> None:
    """Replace the keys file atomically; it is readable by its owner only (``mkstemp`` makes it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps({"keys": [asdict(k) for k in keys]}, indent=2) + "\n").encode("utf-8"))
