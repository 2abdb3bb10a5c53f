"""Who may call a door: the bearer token's key and its role, as a FastAPI dependency and an ASGI guard.

With no keys configured every caller may do everything (a page on loopback, as before); the
server refuses to bind anything but loopback in that state (``vraagbaak.server``). With keys,
every call needs ``Authorization: Bearer <token>``: none or an unknown one is 401, a read key
asking to ingest is 403. The token is never logged or echoed in an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.keys import Key, Keys, Role

_bearer = HTTPBearer(auto_error=False, description="An API key: `vraagbaak keys add NAME --role read|admin`.")
UNAUTHORIZED = "an API key is required: send it as `Authorization: Bearer <key>`"
FORBIDDEN = "this key may only ask and search (role read); ingest, sync and remove need an admin key"
OPEN = Key("open", "admin", "")
"""The caller when no keys are configured."""


class Access:
    """Checks bearer tokens against the keys in force."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    @property
    def required(self) -> bool:
        """Whether a key is needed at all."""
        return bool(self.keys)

    def check(self, authorization: str | None, role: Role) -> Key:
        """The caller's key for an ``Authorization`` header value; HTTPException 401/403 otherwise."""
        if not self.required:
            return OPEN
        scheme, _, token = (authorization or "").partition(" ")
        key = self.keys.find(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if key is None:
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        if not key.allows(role):
            raise HTTPException(403, FORBIDDEN)
        return key

    def dependency(self, role: Role) -> Callable[..., Key]:
        """A FastAPI dependency that admits callers who may act as ``role`` (documented in OpenAPI)."""

        def require(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Key:
            header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
            return self.check(header, role)

        return require

    def guard(self, app: ASGIApp, role: Role) -> ASGIApp:
        """``app`` (an ASGI app routed beside the routes, e.g. MCP) behind the same check."""
        return _Guarded(self, app, role)


class _Guarded:
    """An ASGI app that lets through only callers ``access`` admits as ``role``.

    A class, not a function: Starlette's ``Route`` takes a plain function for a request handler.
    """

    def __init__(self, access: Access, app: ASGIApp, role: Role) -> None:
        self.access, self.app, self.role = access, app, role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.access.required:
            headers = dict(scope.get("headers") or [])
            header = headers.get(b"authorization", b"").decode("latin-1") or None
            try:
                self.access.check(header, self.role)
            except HTTPException as e:
                await _reply(send, e)
                return
        await self.app(scope, receive, send)


async def _reply(send: Send, error: HTTPException) -> None:
    """A JSON error response straight onto the ASGI channel."""
    body = json.dumps({"detail": error.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
