"""The curation console in a real browser: headless Chromium against a live ``distillery serve``.

A newcomer's path through it: search the box, open a tool, compare two of its versions; log in with a
curator key, approve the tool the poisoning scan flagged, find the decision in the audit log; and,
with a read-only key, be refused with an error page while nothing changes. Every page visited is also
checked for assets from elsewhere (the console must work offline) and for browser errors (conftest).
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser.conftest import NAMESPACE, ConsoleBox, ConsolePage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADD = f"{NAMESPACE}.add_numbers"
FLAGGED = f"{NAMESPACE}.convert_units"


def _status_over_rest(box: ConsoleBox, tool: str, semver: str) -> str:
    """A version's status as the REST API reports it (the console's word checked against the registry's)."""
    namespace, name = tool.split(".")
    response = httpx.get(box.url(f"/api/v1/tools/{namespace}/{name}/versions/{semver}"), timeout=30)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def test_search_open_a_tool_and_compare_two_versions(console: ConsolePage) -> None:
    console.open("/ui")
    assert console.heading == "Tools"
    listed = {row[0]: row for row in console.rows("table.tools")}
    assert {ADD, f"{NAMESPACE}.solve24", FLAGGED} <= listed.keys(), listed
    assert listed[ADD][2:4] == ["1.1.0", "active"], listed[ADD]

    console.type_and_enter(console.find("form.search input[type=search]"), "sum a list of numbers")
    assert "q=sum+a+list+of+numbers" in console.path
    found = console.rows("table.tools")
    assert found and found[0][0] == ADD, found
    assert "Score" in console.find("table.tools thead").text

    console.click_link(ADD)
    assert console.path == f"/ui/tools/{NAMESPACE}/add_numbers"
    assert console.heading == ADD
    versions = console.rows("table.versions")
    assert [row[:2] for row in versions] == [["1.1.0", "active"], ["1.0.0", "active"]], versions
    assert "def add_numbers(numbers: list[float], start: float = 0.0, digits: int | None = None)" in \
        console.find("pre.source").text
    assert [row[3] for row in console.rows("table.tests")] == ["passed", "passed"]

    compare = console.find("form[action$='#diff']")
    console.choose(console.find("select[name=base]", compare), "1.0.0")
    console.choose(console.find("select[name=head]", compare), "1.1.0")
    console.click(console.button(compare, "Compare"))
    assert "base=1.0.0" in console.path and "head=1.1.0" in console.path and console.path.endswith("#diff")
    assert "From 1.0.0 to 1.1.0: change classified as minor." in console.text
    assert any("input.properties.digits" in row[1] for row in console.rows("table.changes"))
    added = [span.text for span in console.find_all("pre.diff span.add")]
    removed = [span.text for span in console.find_all("pre.diff span.del")]
    assert any(line.startswith("+def add_numbers(") and "digits" in line for line in added), added
    assert any(line.startswith("-def add_numbers(") and "digits" not in line for line in removed), removed


def test_a_curator_approves_the_flagged_tool_and_the_audit_log_shows_it(console: ConsolePage,
                                                                         console_box: ConsoleBox) -> None:
    console.open("/ui")
    console.click_link("Audit log")
    assert console.heading == "Unauthorized" and "log in first" in console.text
    console.click(console.find("section.error a[href='/ui/login']"))
    assert console.heading == "Log in"
    console.login(console_box.curator_key)
    assert console.find("p.notice").text == "Logged in."
    assert "Key curator-ada (curator)" in console.find("header .who").text

    console.click_link("Review queue")
    queued = [a for a in console.find_all("article.review") if FLAGGED in console.find("h2", a).text]
    assert len(queued) == 1, console.text
    entry = queued[0]
    assert "flagged" in console.find("h2", entry).text
    findings = console.rows("table.findings")
    assert any("drop its instructions" in row[3] or "instruction" in row[0] for row in findings), findings
    approve = next(form for form in console.find_all("form", entry)
                   if (form.get_attribute("action") or "").endswith("/approve"))
    console.find("input[name=reason]", approve).send_keys("checked the injected sentence; approved for the test")
    console.click(console.button(approve, "Approve"))
    assert console.path == "/ui/review?done=approve"
    assert console.find("p.notice").text == "Approved."
    assert FLAGGED not in console.text

    console.click_link("Audit log")
    assert console.heading == "Audit log"
    rows = [row for row in console.rows("table.audit") if row[2:4] == ["approve", f"{FLAGGED}@1.0.0"]]
    assert rows, console.rows("table.audit")
    assert "curator-ada" in rows[0][1] and rows[0][4] == "checked the injected sentence; approved for the test"

    console.open(f"/ui/tools/{NAMESPACE}/convert_units")
    assert console.rows("table.versions")[0][:2] == ["1.0.0", "active flagged"]
    assert _status_over_rest(console_box, FLAGGED, "1.0.0") == "active"


def test_a_read_only_key_is_refused_and_nothing_changes(console: ConsolePage, console_box: ConsoleBox) -> None:
    console.login(console_box.reader_key)
    assert "Key reader-bob (reader)" in console.find("header .who").text
    console.open(f"/ui/tools/{NAMESPACE}/solve24")
    assert "Your key cannot curate this tool." in console.text
    assert not console.find_all("table.versions form"), "a reader is offered curation forms"
    audit_before = console.audit_rows()

    console.open(f"/ui/tools/{NAMESPACE}/solve24")
    console.post_form(f"/ui/tools/{NAMESPACE}/solve24/versions/1.0.0/yank", reason="a reader tries")
    assert console.driver.title.startswith("403 Forbidden")
    assert console.heading == "Forbidden"
    assert "key 'reader-bob' has role reader; this needs curator or above" in console.text
    assert "Log in with a key that has the role and namespace this needs." in console.text

    console.open(f"/ui/tools/{NAMESPACE}/solve24")
    assert console.rows("table.versions")[0][:2] == ["1.0.0", "active"]
    assert _status_over_rest(console_box, f"{NAMESPACE}.solve24", "1.0.0") == "active"
    assert console.audit_rows() == audit_before



def test_the_offline_check_catches_an_asset_from_elsewhere(console: ConsolePage) -> None:
    console.open("/ui")
    console.driver.execute_script("const s = document.createElement('script');"
                                  "s.src = 'https://cdn.example.com/lib.js'; document.head.appendChild(s);")
    with pytest.raises(AssertionError, match=r"loads assets from elsewhere.*https://cdn\.example\.com/lib\.js"):
        console.check_page()
