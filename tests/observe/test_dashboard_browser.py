"""The dashboard end to end in a real browser (Debian's chromium driven by Playwright).

A node runs a supervision tree; the test floods one worker, finds it on the processes page by
sorting on message queue length, opens it, kills it from the page with the token, and sees
its supervisor's restart in the tree view. Every wait is for something on the page (Playwright's
`expect` polls the page until it holds). Screenshots of each page go to $BEAMLET_SCREENSHOTS
(or the test's temporary directory).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import observe_app
import pytest
from observe_app import TOKEN, App

FLOOD = 5000


@pytest.fixture
def app() -> Iterator[App]:
    yield from observe_app.running_app()


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = observe_app.chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        observe_app.require("Playwright", False, "pip install -e '.[test]'")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def test_find_the_flooded_process_kill_it_and_see_it_restarted(
        app: App, browser: Any, tmp_path: Any) -> None:
    from playwright.sync_api import expect

    shots = observe_app.screenshot_dir(str(tmp_path))
    sink = app.sink()
    app.flood(sink, FLOOD)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("dialog", lambda dialog: dialog.accept())

    # Overview: the node's figures, pushed by the server.
    page.goto(app.board.url)
    expect(page.locator("#node-name")).to_have_text("nonode@nohost")
    expect(page.locator('[data-card="longest mailbox"] .v')).to_have_text(f"{FLOOD:,}")
    expect(page.locator('[data-chart="processes"] polyline')).to_have_count(1)
    page.screenshot(path=os.path.join(shots, "dashboard-overview.png"))

    # Processes: sort by message queue length; the flooded worker comes first.
    page.click('nav a[data-view="processes"]')
    page.click('th[data-sort="message_queue_len"]')
    page.evaluate("window.scrollTo(0, 0)")
    first = page.locator("#proc-table tbody tr.proc-row").first
    expect(first).to_have_attribute("data-pid", str(sink.id))
    expect(first.locator("td.mq")).to_have_text(f"{FLOOD:,}")
    page.screenshot(path=os.path.join(shots, "dashboard-processes.png"))

    # One process: its mailbox, its supervisor chain; kill it with the token.
    first.click()
    expect(page.locator("#proc h2")).to_contain_text(repr(sink))
    expect(page.locator("section h2", has_text="Mailbox")).to_contain_text(f"{FLOOD:,}")
    expect(page.locator("section", has_text="Supervisor chain").locator("a.pid").first) \
        .to_have_text(repr(app.supervisor))
    page.screenshot(path=os.path.join(shots, "dashboard-process.png"))
    page.fill("#token", TOKEN)
    page.click("#kill")
    expect(page.locator("#kill-result")).to_have_text("killed (ok)")
    expect(page.locator("#proc h2")).to_contain_text("is dead")

    # The supervision tree shows the sink restarted under a new pid.
    page.click('nav a[data-view="tree"]')
    sup = page.locator(f'li.sup[data-pid="{app.supervisor.id}"]').first
    expect(sup).to_contain_text("one_for_one")
    child = sup.locator('li.child[data-id="sink"] > a.pid')
    expect(child).not_to_have_text(repr(sink))
    expect(child).to_have_text(re.compile(r"<0\.\d+\.0>"))
    jobs = sup.locator('li.child.sup[data-id="jobs"]')
    expect(jobs).to_contain_text("DynamicSupervisor one_for_one")
    expect(jobs.locator("li.child")).to_have_count(2)
    assert app.sink() is not sink
    expect(child).to_have_text(repr(app.sink()))
    page.screenshot(path=os.path.join(shots, "dashboard-tree.png"))


def test_a_kill_without_the_token_is_refused(app: App, browser: Any) -> None:
    from playwright.sync_api import expect

    sink = app.sink()
    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{app.board.url}#/process/{sink.id}")
    expect(page.locator("#proc h2")).to_contain_text(repr(sink))
    page.fill("#token", "not-the-token")
    page.click("#kill")
    expect(page.locator("#kill-result")).to_contain_text("refused")
    assert app.sink() is sink
