"""The Airflow UI as a user meets it, in headless Chromium: both trigger forms and the Gong connection form.

A real Airflow (api-server, scheduler with the LocalExecutor, dag-processor, triggerer; SQLite: the stack
tests/e2e/test_e2e_airflow.py uses too, tests/support/local_stack.py) serves the repository's ``dags/``
next to the Gong emulator, with GONG_INTEGRATION_ID set to the emulator's integration so that the sync
form's defaults are a working run. Playwright (from PyPI) drives the system's Chromium (Debian's
``chromium`` package; Playwright's own browser download is not used): it clicks Trigger, keeps the
defaults, clicks Trigger in the form and waits for the run to succeed.

Screenshots of each form and finished run go to ``.pytest_cache/d/browser_ui/`` (or the test's tmp dir
when the cache is off), never into the repository. Without playwright or Chromium the module is skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gong_provider import get_provider_info
from gong_provider.waiting.deadline import min_deferral_age
from tests.support.airflow_stack import AirflowProcesses, Api, wait_for_run
from tests.support.faults import poll
from tests.support.local_stack import SETUP_DAG_ID, SYNC_DAG_ID, SharedLocalAirflow

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it is in the test extra)"
)

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does it)", allow_module_level=True
    )

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 420.0
UI_TIMEOUT_MS = 30_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Stack:
    airflow: AirflowProcesses
    api: Api
    emulator: Any


@dataclass
class Ui:
    """One browser page on the api-server, and where its screenshots go."""

    page: Any
    base_url: str
    artifacts: Path

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)

    def open_trigger_form(self, dag_id: str) -> Any:
        self.page.goto(f"{self.base_url}/dags/{dag_id}")
        self.page.get_by_role("button", name="Trigger Dag").click()
        dialog = self.page.get_by_role("dialog")
        sync_api.expect(dialog.get_by_text("Run Parameters")).to_be_visible()
        return dialog

    def submit_trigger_form(self, dialog: Any, screenshot: str) -> str:
        """Click the form's Trigger (failing with the fields that block it) and return the new run's id."""
        submit = self.page.get_by_test_id("trigger-dag-submit")
        try:
            sync_api.expect(submit).to_be_enabled()
        except AssertionError:
            raise AssertionError(
                f"the form's Trigger button stays disabled; required fields left empty: "
                f"{empty_required_fields(dialog)}"
            ) from None
        finally:
            self.screenshot(screenshot)
        with self.page.expect_response(
            lambda response: response.url.endswith("/dagRuns") and response.request.method == "POST"
        ) as posted:
            submit.click()
        response = posted.value
        assert response.ok, f"{response.status} {response.text()}"
        return str(response.json()["dag_run_id"])

    def show_finished_run(self, dag_id: str, run_id: str, screenshot: str) -> None:
        self.page.goto(f"{self.base_url}/dags/{dag_id}/runs/{run_id}")
        sync_api.expect(self.page.get_by_text("Success", exact=True).first).to_be_visible()
        self.screenshot(screenshot)


def empty_required_fields(dialog: Any) -> list[str]:
    """The form's fields marked required and left empty, and the error messages it shows."""
    names: list[str] = dialog.locator("input[required]").evaluate_all(
        "inputs => inputs.filter(i => i.type !== 'checkbox' && !i.value).map(i => i.name || i.id)"
    )
    return names + dialog.get_by_text("This field is required").all_inner_texts()


@pytest.fixture(scope="module")
def stack(local_airflow: SharedLocalAirflow) -> Stack:
    """The shared LocalExecutor stack (tests/support/local_stack.py), Gong and the state as new."""
    local = local_airflow.get()
    # Processing slow enough that every wait defers to the triggerer (as in test_e2e_airflow).
    local.fresh(processing_delay=12.0)
    return Stack(airflow=local.airflow, api=local.api, emulator=local.emulator)


@pytest.fixture(scope="module")
def artifacts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("browser_ui") if cache is not None else tmp_path_factory.mktemp("browser_ui")
    for old in folder.glob("*.png"):
        old.unlink()
    return Path(folder)


@pytest.fixture(scope="module")
def ui(stack: Stack, artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 2400},  # the whole trigger form in one screenshot
        )
        try:
            context.set_default_timeout(UI_TIMEOUT_MS)
            sync_api.expect.set_options(timeout=UI_TIMEOUT_MS)
            yield Ui(page=context.new_page(), base_url=stack.airflow.base_url, artifacts=artifacts)
        finally:
            context.close()


def test_sync_runs_from_the_trigger_form_with_its_defaults(stack: Stack, ui: Ui) -> None:
    dialog = ui.open_trigger_form(SYNC_DAG_ID)
    run_id = ui.submit_trigger_form(dialog, "sync_form")

    run = wait_for_run(stack.airflow, stack.api, SYNC_DAG_ID, run_id, RUN_TIMEOUT)
    ui.show_finished_run(SYNC_DAG_ID, run_id, "sync_run")
    assert run["conf"]["integration_id"] == str(stack.emulator.integration_id)
    assert run["conf"]["sync_mode"] == "upsert"  # the default: only what changed is sent
    assert run["conf"]["confirm_deletes"] is None  # an empty optional field sends null
    assert stack.emulator.client.record_counts("ACCOUNT"), "no ACCOUNT record reached the emulator"


def test_a_typed_integration_id_is_sent_exactly(stack: Stack, ui: Ui) -> None:
    """A 64-bit id typed into the form reaches the conf digit for digit (a JSON number would be rounded).

    The UI sends a Param whose type lists several JSON types through JSON.parse unless it has
    ``examples``; this keeps integration_id's form field a string whatever its type becomes.
    """
    typed = "2271307570613351878"  # not the default: the field is edited as a user does
    runs = f"**/api/v2/dags/{SYNC_DAG_ID}/dagRuns"
    ui.page.route(runs, lambda route: route.abort())  # the form's POST is recorded, not run
    try:
        dialog = ui.open_trigger_form(SYNC_DAG_ID)
        dialog.locator("[name=element_integration_id]").fill(typed)
        submit = ui.page.get_by_test_id("trigger-dag-submit")
        sync_api.expect(submit).to_be_enabled()
        with ui.page.expect_request(
            lambda request: request.method == "POST" and "/dagRuns" in request.url
        ) as sent:
            submit.click()
    finally:
        ui.page.unroute(runs)
    assert sent.value.post_data_json["conf"]["integration_id"] == typed


def test_setup_runs_from_the_trigger_form(stack: Stack, ui: Ui) -> None:
    from gong_provider.emulator.config import DEFAULT_INTEGRATION_NAME

    dialog = ui.open_trigger_form(SETUP_DAG_ID)
    # Gong keeps one integration per company: re-running setup names the one that exists.
    dialog.locator("[name=element_integration_name]").fill(DEFAULT_INTEGRATION_NAME)
    run_id = ui.submit_trigger_form(dialog, "setup_form")

    wait_for_run(stack.airflow, stack.api, SETUP_DAG_ID, run_id, RUN_TIMEOUT)
    ui.show_finished_run(SETUP_DAG_ID, run_id, "setup_run")
    assert stack.api.get(f"/dags/{SETUP_DAG_ID}")["is_paused"] is False  # the form unpaused it
    xcom = f"/dags/{SETUP_DAG_ID}/dagRuns/{run_id}/taskInstances/%s/xcomEntries/return_value"
    assert stack.api.get(xcom % "announce")["value"] == str(stack.emulator.integration_id)
    assert stack.api.get(xcom % "write_schema")["value"], "no custom field was written"


def test_gong_connection_form_is_labelled_as_the_provider_declares(stack: Stack, ui: Ui) -> None:
    (declared,) = get_provider_info()["connection-types"]
    behaviour = declared["ui-field-behaviour"]
    page = ui.page
    page.goto(ui.base_url)
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    combobox = dialog.get_by_role("combobox")
    combobox.fill(declared["hook-name"])
    page.get_by_role("option", name=declared["hook-name"], exact=True).click()

    for field_name, label in behaviour["relabeling"].items():
        field = dialog.get_by_label(label, exact=True)
        sync_api.expect(field).to_have_attribute("name", field_name)
        sync_api.expect(field).to_have_attribute("placeholder", behaviour["placeholders"][field_name])
    sync_api.expect(dialog.get_by_label("Access key secret", exact=True)).to_have_attribute(
        "type", "password"
    )
    for hidden in behaviour["hidden-fields"]:
        sync_api.expect(dialog.locator(f"[name={hidden}]")).to_have_count(0)

    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for key, extra in declared["conn-fields"].items():
        # the label and its input share one row of the form, and no other field is in that row
        row = dialog.locator(
            f"xpath=//*[normalize-space(text())='{extra['label']}']"
            f"/ancestor::*[.//input[@name='element_{key}']][1]"
        )
        sync_api.expect(row).to_have_count(1)
        sync_api.expect(row.locator("input[name^=element_]")).to_have_count(1)
        sync_api.expect(row).to_contain_text(extra["description"])
    sync_api.expect(dialog.locator("[name=element_access_token]")).to_have_attribute("type", "password")
    sync_api.expect(dialog.locator("[name=element_timeout]")).to_have_value("60")
    ui.screenshot("connection_form")

    # What the form saves is what the hook reads: the extras under the declared keys.
    dialog.get_by_role("button", name="Standard Fields", exact=True).click()
    dialog.get_by_label("Connection ID").fill("gong_from_ui")
    dialog.get_by_label(behaviour["relabeling"]["host"], exact=True).fill(stack.emulator.url)
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    dialog.locator("[name=element_timeout]").fill("30")
    with page.expect_response(
        lambda response: response.url.endswith("/connections") and response.request.method == "POST"
    ) as posted:
        dialog.get_by_role("button", name="Save").click()
    assert posted.value.ok, posted.value.text()
    saved = stack.api.get("/connections/gong_from_ui")
    assert saved["conn_type"] == declared["connection-type"]
    assert saved["host"] == stack.emulator.url
    extra = json.loads(saved["extra"])
    assert extra["timeout"] == 30
    assert set(extra) <= set(declared["conn-fields"])


# ----------------------------------------------------------------------------- approving mass deletes

APPROVAL_TASK = "contact.approve_deletes"
KEPT = range(5)


def contact_export(folder: Path, numbers: range, mode: str) -> dict[str, Any]:
    """A CONTACT-only export of ``approval-c<n>`` records, and the conf that syncs it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = (
        json.dumps(
            {
                "objectId": f"approval-c{n}",
                "modifiedDate": "2026-01-01T00:00:00Z",
                "emailAddress": f"approval-c{n}@example.com",
            }
        )
        for n in numbers
    )
    (folder / "contacts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"source": str(folder), "entity_types": ["CONTACT"], "sync_mode": mode, "max_delete_ratio": 0.01}


def trigger(stack: Stack, conf: dict[str, Any]) -> str:
    run = stack.api.send("POST", f"/dags/{SYNC_DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    return str(run["dag_run_id"])


def run_state(stack: Stack, run_id: str) -> str:
    """The run's final state (success or failed)."""

    def finished() -> str | None:
        stack.airflow.check_alive()
        state = str(stack.api.get(f"/dags/{SYNC_DAG_ID}/dagRuns/{run_id}")["state"])
        return state if state in ("success", "failed") else None

    return str(poll(finished, timeout=RUN_TIMEOUT, interval=1.0, what=f"run {run_id} to finish"))


def task_states(stack: Stack, run_id: str) -> dict[str, str]:
    path = f"/dags/{SYNC_DAG_ID}/dagRuns/{run_id}/taskInstances"
    return {ti["task_id"]: ti["state"] for ti in stack.api.get(path, limit=500)["task_instances"]}


def answer_in_the_ui(stack: Stack, ui: Ui, run_id: str, deletes: int, option: str) -> None:
    """Wait until the approval asks, check what it shows, then click ``option`` on the task's Required
    Action page in the browser."""
    instance = f"/dags/{SYNC_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}"

    def asking() -> bool:
        stack.airflow.check_alive()
        state = stack.api.get(instance)["state"]
        assert state not in ("skipped", "failed", "success"), f"{APPROVAL_TASK} ended {state} unasked"
        return state in ("awaiting_input", "deferred")

    poll(asking, timeout=RUN_TIMEOUT, interval=1.0, what=f"{APPROVAL_TASK} to ask")
    page = ui.page
    page.goto(f"{ui.base_url}/dags/{SYNC_DAG_ID}/runs/{run_id}/tasks/{APPROVAL_TASK}/required_actions")
    sync_api.expect(
        page.get_by_text(f"Gong CONTACT: delete {deletes} record(s) gone from the source?").first
    ).to_be_visible()
    sync_api.expect(page.get_by_text("First objectIds to delete").first).to_be_visible()
    ui.screenshot(f"approval_{option.lower()}")
    # A person reads the request before answering. An answer within seconds of the deferral hits
    # apache/airflow#71580 (the resumed try is taken for a killed one and retried: it asks again). On
    # Airflow 3.3+ (pinned) the answer resumes the task straight from the API, with no trigger to hold
    # it; below 3.3 the approval's HeldHITLTrigger would (docs/dags.md says so).
    started = str(stack.api.get(instance)["start_date"]).replace("Z", "+00:00")
    asked_at = datetime.fromisoformat(started).timestamp()
    read_by = asked_at + min_deferral_age() + 5.0
    poll(lambda: time.time() >= read_by, timeout=RUN_TIMEOUT, interval=0.5, what="the request to be read")
    with page.expect_response(
        lambda response: "hitlDetails" in response.url and response.request.method == "PATCH"
    ) as answered:
        page.get_by_role("button", name=option, exact=True).click()
    assert answered.value.ok, answered.value.text()


@pytest.fixture
def contacts_in_gong(stack: Stack, tmp_path: Path) -> tuple[Path, set[str]]:
    """Ten approval-c* contacts synced and confirmed (upsert); the export folder and every CONTACT
    objectId Gong then holds (the sample's too, if an earlier test synced it)."""
    run_id = trigger(stack, contact_export(tmp_path, range(10), "upsert"))
    wait_for_run(stack.airflow, stack.api, SYNC_DAG_ID, run_id, RUN_TIMEOUT)
    return tmp_path, set(stack.emulator.client.entities("CONTACT"))


def test_rejected_mass_deletes_are_not_sent(
    stack: Stack, ui: Ui, contacts_in_gong: tuple[Path, set[str]]
) -> None:
    folder, before = contacts_in_gong
    assert {f"approval-c{n}" for n in range(10)} <= before
    # mirror mode, most contacts gone from the export: above max_delete_ratio, the deletes are withheld
    run_id = trigger(stack, contact_export(folder, KEPT, "mirror"))
    answer_in_the_ui(stack, ui, run_id, len(before) - len(KEPT), "Reject")
    assert run_state(stack, run_id) == "failed"  # the type fails with the guard's message
    states = task_states(stack, run_id)
    assert (states["contact.send_approved_deletes"], states["contact.commit"]) == ("skipped", "failed")
    assert set(stack.emulator.client.entities("CONTACT")) == before  # nothing deleted


def test_approved_mass_deletes_reach_gong(
    stack: Stack, ui: Ui, contacts_in_gong: tuple[Path, set[str]]
) -> None:
    folder, before = contacts_in_gong
    run_id = trigger(stack, contact_export(folder, KEPT, "mirror"))
    answer_in_the_ui(stack, ui, run_id, len(before) - len(KEPT), "Approve")
    assert run_state(stack, run_id) == "success", task_states(stack, run_id)
    assert set(stack.emulator.client.entities("CONTACT")) == {f"approval-c{n}" for n in KEPT}
    path = f"/dags/{SYNC_DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/report"
    row = stack.api.get(path)["value"]["CONTACT"]
    assert (row["deleted"], row["deletes_withheld"]) == (len(before) - len(KEPT), 0)
