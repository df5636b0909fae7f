"""End to end in real headless Chromium (Debian's, driven by Playwright): sign in,
create the flagship experiment through the form, start it, send traffic through
the API, read the report and the dashboard. Screenshots of every page go to
artifacts/screenshots/ at 1280 and 390 px wide."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
import uvicorn
from sqlalchemy.orm import Session

from experimentation import accounts
from experimentation.db import engine_for, migrate
from experimentation.settings import Settings
from tests.conftest import REPO, FakeClock
from tests.utils.factories import add_catalogue, add_history
from web.app import create_app

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "artifacts" / "screenshots"
ADMIN = ("growth@example.org", "e2e password 123")
WIDTHS = {"desktop": 1280, "phone": 390}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[str]:
    """The app on a real port, on its own SQLite database."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.db'}"
    engine = engine_for(url)
    migrate(engine)
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=90)
        accounts.create_account(
            session,
            email=ADMIN[0],
            password=ADMIN[1],
            role="admin",
            name="Growth",
            now=clock(),
        )
        session.commit()
    settings = Settings(DATABASE_URL=url, event_queue="sync", model_refresh_seconds=0)
    app = create_app(settings, clock=clock, run_migrations=False)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:
            pytest.fail("the app did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs chromium)")
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def shoot(page: object, name: str) -> None:
    """A full-page screenshot at each width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)  # type: ignore[attr-defined]
        overflow = page.evaluate(  # type: ignore[attr-defined]
            "document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 1, f"{name} scrolls sideways at {width}px by {overflow}px"
        hidden = page.evaluate(  # type: ignore[attr-defined]
            "[...document.querySelectorAll('.scroll')]"
            ".filter(e => e.scrollWidth > e.clientWidth + 1).length"
        )
        assert hidden == 0, f"{name}: a table is cut off at {width}px"
    page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]


def send_traffic(base: str, key: str, clock: FakeClock, days: int) -> None:
    """90 users a day: each is served 5 items, sees them, some click and buy."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx2.Client(base_url=base, headers=headers, timeout=30) as api:
        for day in range(days):
            events = []
            for u in range(90):
                served = api.get(
                    "/v1/recommendations",
                    params={
                        "user_id": f"u{u}",
                        "experiment": "rec-algorithm-v2",
                        "k": 5,
                    },
                )
                assert served.status_code == 200, served.text
                body = served.json()
                rid = body["request_id"]
                for item in body["items"]:
                    events.append(
                        {
                            "event_id": f"imp-{rid}-{item['item_id']}",
                            "user_id": f"u{u}",
                            "type": "impression",
                            "item_id": item["item_id"],
                            "request_id": rid,
                        }
                    )
                clicks = (u + day) % (3 if body["variant"] == "treatment" else 4) == 0
                if clicks:
                    top = body["items"][0]["item_id"]
                    events += [
                        {
                            "event_id": f"click-{rid}",
                            "user_id": f"u{u}",
                            "type": "click",
                            "item_id": top,
                            "request_id": rid,
                        },
                        {
                            "event_id": f"buy-{rid}",
                            "user_id": f"u{u}",
                            "type": "purchase",
                            "item_id": top,
                            "value": 3.99,
                        },
                    ]
                events.append(
                    {
                        "event_id": f"end-{rid}",
                        "user_id": f"u{u}",
                        "type": "session_end",
                        "session_id": rid,
                        "dwell_seconds": 60.0 + u,
                    }
                )
            stored = api.post("/v1/events", json=events)
            assert stored.status_code == 200, stored.text
            clock.now += timedelta(days=1)
        assert api.get("/v1/experiments").status_code == 403  # an app key


def test_growth_team_flow(browser: object, server: str, clock: FakeClock) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Sign in
    page.goto(server + "/")
    assert "/login" in page.url
    shoot(page, "01-login")
    page.fill("#email", ADMIN[0])
    page.fill("#password", ADMIN[1])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(server + "/")
    shoot(page, "02-experiments-empty")

    # An app key, made in the UI
    page.goto(server + "/admin/keys")
    page.fill("#key-name", "e2e app")
    page.select_option("#key-scope", "app")
    page.click("button:has-text('Create key')")
    app_key = page.inner_text("#new-key-secret").strip()
    assert app_key.startswith("sr_")
    shoot(page, "03-keys")

    # The flagship experiment through the form: first a mistake, then right
    page.goto(server + "/experiments/new")
    page.fill("#key", "rec-algorithm-v2")
    page.fill("#name", "Hybrid recommender v2")
    page.fill("#hypothesis", "A hybrid of content and collaborative scores lifts CTR.")
    page.fill("#variant-0-key", "control")
    page.fill("#variant-0-name", "Most Popular")
    page.select_option("#variant-0-type", "popularity")
    page.fill("#variant-1-key", "treatment")
    page.fill("#variant-1-name", "Hybrid V2")
    page.select_option("#variant-1-type", "hybrid")
    page.fill("#variant-1-params", "alpha=1.5")
    page.fill("#variant-1-weight", "40")
    for metric in ("conversion", "avg_session_duration", "revenue_per_user"):
        page.check(f"input[name=guardrails][value={metric}]")
    page.fill("#minimum_duration", "2d")
    page.click("button:has-text('Create draft')")
    assert "add up to 90%" in page.inner_text("#weights-error")
    assert "alpha must be between 0 and 1" in page.inner_text("#variant-1-params-error")
    shoot(page, "04-form-errors")
    page.fill("#variant-1-params", "alpha=0.7")
    page.fill("#variant-1-weight", "50")
    page.click("#calculator summary")
    page.fill("#calc_baseline", "10")
    page.fill("#calc_mde", "5")
    page.click("button:has-text('Calculate and use as sample size')")
    assert "users in control" in page.inner_text("#calc-result")
    shoot(page, "05-form-calculator")
    page.fill("#sample_size", "80")
    page.click("button:has-text('Create draft')")
    page.wait_for_url(server + "/experiments/rec-algorithm-v2")

    # Start it
    page.click("button:has-text('Start experiment')")
    page.wait_for_selector(".badge.running")

    # One day of traffic: an interim report
    send_traffic(server, app_key, clock, days=1)
    page.reload()
    assert "INTERIM RESULT" in page.inner_text("#result-state")
    shoot(page, "06-report-interim")

    # Two more days: the report is final
    send_traffic(server, app_key, clock, days=2)
    page.reload()
    state = page.inner_text("#result-state")
    assert "FINAL RESULT" in state or "BLOCKED" in state, state
    assert page.locator("svg.forest").count() == 4
    assert page.locator("svg.lines").count() == 4
    shoot(page, "07-report-final")

    with page.expect_download() as download:
        page.click("a:has-text('Export CSV')")
    assert download.value.suggested_filename == "rec-algorithm-v2-report.csv"

    page.click("a:has-text('Recommender dashboard')")
    page.wait_for_selector("#panel-latency_p95")
    assert page.locator("svg.lines").count() == 8
    shoot(page, "08-dashboard")

    page.goto(server + "/")
    assert "90 / 80" in page.inner_text("table")
    shoot(page, "09-experiments")
    page.goto(server + "/audit")
    assert "start" in page.inner_text("table")
    shoot(page, "10-audit")
    page.goto(server + "/admin/users")
    shoot(page, "11-users")
    # The form answers 422 when it shows its messages; nothing else may fail.
    assert [e for e in errors if "422" not in e] == [], errors
    context.close()


def test_chromium_is_debian_s(browser: object) -> None:
    """The browser is the system's, not a downloaded one."""
    assert shutil.which("chromium") == CHROMIUM
    assert browser.version  # type: ignore[attr-defined]
