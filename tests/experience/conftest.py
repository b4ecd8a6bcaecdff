"""One stack, one headless Chromium and the seeded exceptions for the console's browser tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from deploy.browser import CHROMIUM_ARGS, ensure_chromium
from deploy.services import SERVICES
from deploy.stack import Stack
from servicekit.redis import free_ports
from tests.experience.stack import Seeded, seed_exceptions

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    quiet = {"FIG_LOG_LEVEL": "WARNING"}
    with Stack(Path(tmp_path_factory.mktemp("console-stack")), ports=ports, extra_env=quiet) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Iterator[Seeded]:
    found = seed_exceptions(stack)
    yield found
    found.api.close()
    found.sf.http.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    ensure_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(ensure_chromium()), args=list(CHROMIUM_ARGS))
    yield launched
    launched.close()


class Person:
    """A person's browser (own cookies) signed in to the console."""

    def __init__(self, context: BrowserContext, page: Page, console: str) -> None:
        self.context = context
        self.page = page
        self.console = console

    def open(self, path: str) -> Page:
        self.page.goto(f"{self.console}{path}")
        return self.page

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(browser: Browser, stack: Stack, username: str) -> Person:
    """Open the console, get sent to the IdP's sign-in form, sign in, land on the overview."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    console = stack.url("console")
    page.goto(f"{console}/")
    assert page.url.startswith(stack.url("idp")), page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(stack.credentials.passwords[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(console) + r"/(\?.*)?$"))
    return Person(context, page, console)


@pytest.fixture(scope="module")
def ana(browser: Browser, stack: Stack, seeded: Seeded) -> Iterator[Person]:
    person = sign_in(browser, stack, "ana.de")
    yield person
    person.context.close()


@pytest.fixture(scope="module")
def sam(browser: Browser, stack: Stack, seeded: Seeded) -> Iterator[Person]:
    person = sign_in(browser, stack, "sam.us")
    yield person
    person.context.close()
