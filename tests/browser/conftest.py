"""Browser tests: the real ASGI app (pages and WebSockets) under uvicorn, driven by Chromium.

The server runs in a thread of the test process, so it shares the test database (pytest-django's
`transactional_db`: every write is committed and visible to the server's threads), the
locmem outbox (`django.core.mail.outbox`) and, without Redis, the in-memory channel layer.

- Test modules mark `django_db(transaction=True, serialized_rollback=True)`: the rows the
  migrations create (Wagtail's root page and site, the article index, role groups) are back
  for every test, as on a real installation, although each test's own data is flushed.
- Rate limits and used TOTP codes live in the cache; tests/conftest.py's autouse `_fresh_cache`
  gives every test a clean one (a key prefix of its own under Redis).
- Uvicorn needs the `websockets` package for the WebSocket upgrade.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path("/tmp/shots")
# Budget for a page to load or a redirect chain to finish; generous for slow CI machines.
NAV_TIMEOUT_MS = 10_000
# Budget for something on an already loaded page to show (or, negated, to be absent).
UI_TIMEOUT_MS = 5_000

ROLE_HOMES = {
    "patient": "/patient/",
    "doctor": "/doctor/",
    "admin": "/operations/",
    "editor": "/editorial/",
}


class LiveASGIServer:
    """hospital.asgi.application under uvicorn in a background thread, on a free port."""

    def __init__(self) -> None:
        if not (find_spec("websockets") or find_spec("wsproto")):
            pytest.fail(
                "uvicorn serves WebSockets only with the 'websockets' (or 'wsproto') package "
                "installed; it must be in the dev dependencies and requirements.lock"
            )
        import uvicorn

        from hospital.asgi import application

        # Bound before the thread starts: the port is ours, with no window for another process.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            log_config=None,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-asgi-server", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self.server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError("the live ASGI server did not start") from self._error
            if time.monotonic() > deadline:
                raise RuntimeError("the live ASGI server did not start within 10 s")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a synchronous function the way a request of this server would run it.

        It runs through `sync_to_async` inside the server's own event loop, so what it triggers
        (a channel-layer `group_send` wrapped in `async_to_sync`) goes through that loop, as it
        does in production inside a request. The in-memory channel layer is not safe to use from
        another loop.
        """
        assert self.loop is not None
        coroutine = sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=15)


@pytest.fixture
def live_asgi(transactional_db) -> Iterator[LiveASGIServer]:
    server = LiveASGIServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chromium(live_asgi) -> Iterator[Any]:
    """Chromium for one test.

    Playwright's sync API keeps an asyncio loop running in the test thread while it is started,
    and Django refuses ORM calls from a thread with a running loop. So Playwright lives for one
    test only, after the server (and so the database) is up and before pytest-django flushes
    the database; the test's own database work goes through `live_asgi.run`.
    """
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@dataclass
class Tab:
    """One browser context (its own cookies: one user) with its page and what its console said."""

    context: Any
    page: Any
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def new_tab(chromium, live_asgi) -> Iterator[Callable[[], Tab]]:
    """Opens a fresh browser context (a separate user's browser) on the live server."""
    tabs: list[Tab] = []

    def open_tab() -> Tab:
        context = chromium.new_context(
            base_url=live_asgi.url, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(NAV_TIMEOUT_MS)
        page.set_default_navigation_timeout(NAV_TIMEOUT_MS)
        tab = Tab(context=context, page=page)
        page.on("console", lambda message: tab.console.append(message.text))
        page.on("pageerror", lambda error: tab.errors.append(str(error)))
        tabs.append(tab)
        return tab

    yield open_tab
    # Closing the contexts closes their WebSockets before the server shuts down.
    for tab in tabs:
        tab.context.close()


@pytest.fixture
def tab(new_tab) -> Tab:
    return new_tab()


# --- Accounts -----------------------------------------------------------------------------


@dataclass
class Account:
    user: Any
    email: str
    password: str
    totp_secret: str | None

    @property
    def home(self) -> str:
        return ROLE_HOMES[self.user.role]


def account_create(
    role: str, first_name: str, last_name: str = "Tester", *, totp: bool | None = None
) -> Account:
    """A user with a verified email, made by the suite's factories (tests/factories.py).

    Staff get an authenticator app (TOTP) unless `totp=False`; patients get none by default.
    """
    from core.models import Role
    from tests.factories import PASSWORD, ROLE_FACTORIES

    role = Role(role)
    email = f"{first_name.lower()}.{last_name.lower()}@example.test"
    options = {} if totp is None else {"totp": totp}
    user = ROLE_FACTORIES[role](email=email, first_name=first_name, last_name=last_name, **options)
    return Account(user=user, email=email, password=PASSWORD, totp_secret=user.totp_secret)


@pytest.fixture
def make_account(live_asgi) -> Callable[..., Account]:
    """`account_create`, run in the server's thread (see `chromium` for why not in this one)."""

    def make(*args: Any, **kwargs: Any) -> Account:
        return live_asgi.run(account_create, *args, **kwargs)

    return make


def totp_now(secret: str) -> str:
    """The code an authenticator app shows right now for `secret`.

    allauth accepts only the current 30-second step (no tolerance), so a code about to expire
    is not typed: wait for the next step instead, as a person would.
    """
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    period = app_settings.TOTP_PERIOD
    if period - time.time() % period < 3:
        time.sleep(period - time.time() % period + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def url_path_re(path: str) -> re.Pattern[str]:
    """Matches a page URL whose path is exactly `path` (any query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def log_in(page, account: Account) -> None:
    """Sign in through the login form and, for an account with TOTP, the code step."""
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.locator("main").get_by_role("button", name="Sign In").click()
    if account.totp_secret:
        expect(page).to_have_url(url_path_re("/accounts/2fa/authenticate/"), timeout=NAV_TIMEOUT_MS)
        page.get_by_label("Code").fill(totp_now(account.totp_secret))
        page.locator("main").get_by_role("button", name="Sign In").click()


def notification_create_live(server: LiveASGIServer, recipient_id: int, title: str, body: str = ""):
    """Create a notification inside the server's event loop, as a request would."""

    def create():
        from core.models import User
        from core.services import notification_create

        return notification_create(
            recipient=User.objects.get(pk=recipient_id), title=title, body=body
        )

    return server.run(create)
