"""``vraagbaak serve``: the chat page and the doors (API, OpenAI-compatible, MCP) on one FastAPI app and port.

The doors' app (``api.app``) is the host; the Gradio page is mounted on it at ``/``, so the
routes of the doors come first and one uvicorn server runs it all. Binding anything but
loopback without keys (and, for the page, a sign-in) is refused unless the network is trusted.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from functools import partial
from pathlib import Path

import gradio as gr
import uvicorn

from api.access import Access
from api.app import build_api
from api.mcp_tools import MCP_PATH, build_mcp, mcp_http_app, mcp_lifespan
from assistant.assistant import Assistant
from ui.app import THEME, create_app
from ui.assets import CSS
from ui.files import file_route
from values.errors import ConfigError
from vraagbaak.doors import Doors, check_exposure


class Server:
    """A running server: its address, and ``stop`` / ``wait``."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url

    def wait(self) -> None:
        """Block until the server stops: Ctrl-C or SIGTERM stop it gracefully.

        SIGTERM is what `kill`, systemd and docker send, and the only way to stop a server started
        in the background (`nohup vraagbaak serve &`), where the shell makes it ignore SIGINT.
        """
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)

    def stop(self) -> None:
        """Stop serving and wait for the server to close."""
        self._server.should_exit = True
        self._thread.join()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def may_change(doors: Doors, user: str | None) -> bool:
    """Whether the page's signed-in ``user`` may upload, sync and remove: an admin key, or anyone without sign-in."""
    if not doors.login:
        return True
    key = doors.keys.named(user) if user else None
    return key is not None and key.allows("admin")


def build_app(assistant: Assistant, doors: Doors, *, uploads: Path | None = None, host: str = "127.0.0.1",
              port: int = 7860):  # type: ignore[no-untyped-def]
    """The one ASGI app: the doors, with the chat page mounted at ``/``."""
    access = Access(doors.keys)
    mcp = build_mcp(assistant)
    mcp_app = mcp_http_app(mcp, allowed_hosts=doors.hosts(host, port))
    uploads = assistant.data_dir / "uploads" if uploads is None else uploads
    app = build_api(assistant, access, concurrency=doors.concurrency, ingest_roots=[*doors.ingest_roots, uploads],
                    apps={MCP_PATH: (mcp_app, lambda: mcp_lifespan(mcp))})
    demo = create_app(assistant, uploads=uploads, may_change=partial(may_change, doors),
                      upload_max_bytes=doors.upload_max_bytes)
    demo.queue(default_concurrency_limit=1)
    auth = (lambda name, token: doors.keys.login(name, token) is not None) if doors.login else None
    return gr.mount_gradio_app(
        app, demo, path="/", auth=auth, auth_message="Sign in with an API key's name and the key itself.",
        app_kwargs={"routes": [file_route(assistant.documents, signed_in=doors.login)]}, theme=THEME, css=CSS,
        show_error=True, ssr_mode=False, mcp_server=False, footer_links=["api", "settings"])


def start(assistant: Assistant, doors: Doors | None = None, *, host: str = "127.0.0.1", port: int = 7860,
          uploads: Path | None = None, quiet: bool = False) -> Server:
    """Serve on ``host:port`` in a background thread and return once it accepts connections.

    Raises ConfigError when the port is taken or the bind would expose the index unguarded.
    """
    doors = doors or Doors()
    check_exposure(host, doors)
    check_port(host, port)
    app = build_app(assistant, doors, uploads=uploads, host=host, port=port)
    # on stop, open streams (a page's heartbeat, an SSE answer) get 3 s to finish, then are closed
    config = uvicorn.Config(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as e:  # noqa: BLE001 - handed to the starting thread, which raises it
            failed.append(e)

    thread = threading.Thread(target=run, name="vraagbaak-server", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    if not server.started:
        check_port(host, port)  # taken between the check and the bind
        raise ConfigError(f"the server could not start on {host}:{port}: {failed[0] if failed else 'it exited'}")
    shown = f"[{host}]" if ":" in host else host
    if host.strip("[]") in ("0.0.0.0", "::"):  # every address: name the one others use
        shown = socket.gethostname()
    url = f"http://{shown}:{port}/"
    if not quiet:
        print(f"vraagbaak: the chat page is on {url} (Ctrl-C stops)", flush=True)
        print(f"vraagbaak: the HTTP API is on {url}api/v1 (docs {url}api/v1/docs), OpenAI-compatible on "
              f"{url}v1, MCP on {url}mcp" + ("; API keys are required" if doors.keys else ""), flush=True)
    return Server(server, thread, url)


def check_port(host: str, port: int) -> None:
    """Raise ConfigError unless a server could listen on ``host:port`` now (bound as uvicorn binds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is taken by another program: choose another "
                                  f"with --port (or VRAAGBAAK_PORT; `make run PORT={port + 1}`)") from e
            raise ConfigError(f"cannot serve on {host}:{port} ({e.strerror}): choose another --host or "
                              "--port (VRAAGBAAK_HOST, VRAAGBAAK_PORT)") from e
