"""How ``serve`` opens its doors, and the refusal to open them to a network unguarded."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

from api.keys import Keys
from assistant.settings import UPLOAD_MAX_BYTES
from values.errors import ConfigError


@dataclass(frozen=True)
class Doors:
    """How the server is opened: keys, the page's sign-in and whether the network is trusted."""

    keys: Keys = field(default_factory=Keys)
    page_login: bool | None = None  # None: the page asks to sign in whenever keys exist
    trusted_network: bool = False
    concurrency: int = 4
    ingest_roots: tuple[Path, ...] = ()  # besides the indexed folders and the page's uploads
    allowed_hosts: tuple[str, ...] = ()  # Host header values MCP accepts beyond loopback's
    upload_max_bytes: int = UPLOAD_MAX_BYTES  # the page refuses a larger upload

    def hosts(self, host: str, port: int) -> list[str]:
        """The Host values MCP accepts when serving on ``host``: none beyond loopback's on loopback."""
        if is_loopback(host):
            return list(self.allowed_hosts)
        names = [*self.allowed_hosts, socket.gethostname(), socket.getfqdn(), *_addresses()]
        if host not in ("0.0.0.0", "::", "[::]"):
            names.append(host)
        return list(dict.fromkeys(n for name in names for n in (name, f"{name}:{port}")))

    @property
    def login(self) -> bool:
        """Whether the page asks for a key's name and token."""
        return bool(self.keys) if self.page_login is None else self.page_login and bool(self.keys)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, doors: Doors) -> None:
    """ConfigError when ``host`` would open the index to a network without keys or sign-in."""
    if is_loopback(host) or doors.trusted_network:
        return
    if not doors.keys:
        raise ConfigError(
            f"refusing to serve on {host} without API keys: anyone who can reach it could ask, ingest and "
            "remove. Create a key (`vraagbaak keys add NAME --role admin`), bind 127.0.0.1, or set "
            "VRAAGBAAK_TRUSTED_NETWORK=true if every machine on this network may use it")
    if not doors.login:
        raise ConfigError(
            f"refusing to serve the page on {host} without its sign-in (VRAAGBAAK_PAGE_LOGIN=false): anyone "
            "who can reach it could upload and remove documents. Turn the sign-in on, or set "
            "VRAAGBAAK_TRUSTED_NETWORK=true")


def _addresses() -> list[str]:
    """This machine's own IP addresses (what a client on the network puts in ``Host``)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return []
    return sorted({f"[{i[4][0]}]" if i[0] == socket.AF_INET6 else str(i[4][0]) for i in infos})
