"""Both UIs in a real browser: Debian's headless Chromium, driven by Playwright, on loopback.

`challenger up` starts the Prefect server, its worker and the MLflow UI on free loopback
ports in a temporary project; one small `challenger retrain` against that server leaves a
flow run with the gate's artifacts and a registered model version. The browser then opens
the Prefect deployments page, the flow run's artifacts and the MLflow model version page,
waits for each single-page app to render, checks what a person would look for (every
deployment of prefect.yaml, the registered model's name, the gate's outcome) and saves a
PNG of each page to docs/screenshots/ (the README links them). A page that stays blank,
answers with an HTTP error or throws a JavaScript error fails the test. `challenger down`
stops every server at the end.

Playwright drives the system's /usr/bin/chromium (never a browser build of its own): without
it the module skips with a message, except in CI (CI=true), where it fails.

Run with `make test-ui` (about a minute on two cores).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.e2e.test_e2e_service import challenger, clean_env, stop_up, up_config

from challenger.config import load_config
from challenger.demo.simulator import simulate_batch
from challenger.store.batches import write_table

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("CHALLENGER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}
RENDER_TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    message = f"the UI tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)
playwright = pytest.importorskip(
    "playwright.sync_api", reason="the UI tests need playwright: pip install -e '.[ui]'"
)


def deployment_names() -> list[str]:
    """The deployment names prefect.yaml declares (what `challenger up` deploys)."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return sorted({str(d["name"]) for d in spec["deployments"]})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`challenger up` in a temporary project, then one small retrain recorded on its server."""
    folder = tmp_path_factory.mktemp("ui")
    config = folder / "challenger.yaml"
    config.write_text(yaml.safe_dump(up_config("ui-loan-default", gate={"n_resamples": 200})))
    state = folder / ".challenger"
    env = clean_env()
    try:
        up = challenger("up", "--config", str(config), "--json", env=env)
        assert up.returncode == 0, f"challenger up failed:\n{up.stdout}\n{up.stderr}"
        info: dict[str, Any] = json.loads(up.stdout)
        seed = write_table(simulate_batch(0, 1500, 7), folder / "seed" / "day-000.parquet")
        served = clean_env(PREFECT_API_URL=info["prefect_api_url"])
        done = challenger(
            "retrain", "--config", str(config), "--data", str(seed), "--json", env=served
        )
        assert done.returncode == 0, f"retrain failed:\n{done.stdout}\n{done.stderr}"
        info.update(
            config=config,
            model_name=load_config(config).project.model_name,
            retrain=json.loads(done.stdout),
        )
        yield info
    finally:
        stop_up(config, state, env)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shoot(
    browser: Any,
    url: str,
    expected: list[str],
    name: str,
    then: Callable[[Any], None] | None = None,
) -> str:
    """Open ``url``, wait until every ``expected`` text is visible, save docs/screenshots/NAME.png.

    ``then`` acts on the page once it is open (a click on a tab). Fails when the document
    answers with an HTTP error, the page throws, a text never shows or the page is nearly
    empty. Returns the page's visible text.
    """
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        response = page.goto(url, wait_until="domcontentloaded")
        assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
        if then is not None:
            then(page)
        for text in expected:
            page.get_by_text(text, exact=False).first.wait_for(
                state="visible", timeout=RENDER_TIMEOUT_MS
            )
        # Both apps poll their APIs (MLflow never goes idle): a short bounded wait lets the
        # last requests of the first render land.
        with contextlib.suppress(playwright.Error):
            page.wait_for_load_state("networkidle", timeout=3_000)
        body = str(page.inner_text("body"))
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
    finally:
        page.close()
    assert not errors, f"{url} threw: {errors}"
    assert len(body.split()) > 20, f"{url} rendered almost nothing: {body!r}"
    return body


def gate_artifact(info: dict[str, Any]) -> dict[str, Any]:
    """The retrain's ``gate-decision`` artifact, as the Prefect server holds it."""
    response = httpx.post(
        f"{info['prefect_api_url']}/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["gate-decision"]}}},
        timeout=20,
    )
    response.raise_for_status()
    [artifact] = response.json()
    return dict(artifact)


def flow_run(info: dict[str, Any], run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{info['prefect_api_url']}/flow_runs/{run_id}", timeout=20)
    response.raise_for_status()
    return dict(response.json())


def test_the_prefect_deployments_page_lists_every_deployment(
    project: dict[str, Any], browser: Any
) -> None:
    deployed = [str(d["name"]).split("/", 1) for d in project["deployments"]]
    names = sorted({name for _, name in deployed})
    assert deployed and set(names) <= set(deployment_names())  # what up deployed is prefect.yaml's

    body = shoot(browser, f"{project['prefect_url']}/deployments", names, "prefect-deployments")

    for flow, name in deployed:
        assert flow in body and name in body
    assert f"{len(project['deployments'])} Deployments" in body


def test_the_flow_run_page_shows_the_gate_artifacts_and_outcome(
    project: dict[str, Any], browser: Any
) -> None:
    run = flow_run(project, gate_artifact(project)["flow_run_id"])
    outcome = project["retrain"]["decision"]["outcome"]

    def open_artifacts_tab(page: Any) -> None:
        page.get_by_text("Artifacts", exact=True).first.click(timeout=RENDER_TIMEOUT_MS)

    body = shoot(
        browser,
        f"{project['prefect_url']}/runs/flow-run/{run['id']}",
        [run["name"], "gate-decision", "gate-report"],
        "prefect-flow-run-artifacts",
        then=open_artifacts_tab,
    )

    assert run["name"] in body
    assert re.search(rf"\b{re.escape(outcome)}\b", body), f"{outcome} not shown:\n{body}"


def test_the_gate_decision_table_shows_every_check(project: dict[str, Any], browser: Any) -> None:
    artifact = gate_artifact(project)
    outcome = project["retrain"]["decision"]["outcome"]
    checks = [c["name"] for c in project["retrain"]["decision"]["checks"]]

    body = shoot(
        browser,
        f"{project['prefect_url']}/artifacts/artifact/{artifact['id']}",
        [outcome, *checks],
        "prefect-gate-decision",
    )

    assert checks and all(name in body for name in checks)
    assert outcome in body


def test_the_mlflow_model_version_page_shows_the_judged_version(
    project: dict[str, Any], browser: Any
) -> None:
    name = project["model_name"]
    version = project["retrain"]["challenger_version"]
    outcome = project["retrain"]["decision"]["outcome"]

    def close_the_assistant(page: Any) -> None:
        """MLflow 3 opens its chat panel beside every page: out of the way of the model card."""
        page.get_by_text(f"Version {version}").first.wait_for(timeout=RENDER_TIMEOUT_MS)
        with contextlib.suppress(playwright.Error):
            page.locator("button[aria-label='Close']").first.click(timeout=3_000)

    body = shoot(
        browser,
        f"{project['mlflow_url']}/#/models/{name}/versions/{version}",
        [name, f"Version {version}"],
        "mlflow-model-version",
        then=close_the_assistant,
    )

    assert name in body
    assert outcome in body  # the model card (the version's description) names the decision
