#!/usr/bin/env python3
"""Browser test of the audit log viewer: real headless Chromium driven by Selenium, against
`auditlog serve --demo` on its own data directory and port.

    python3 e2e/browser/viewer_test.py            # after `swift build`
    AUDITLOG_BIN=.build/release/auditlog python3 e2e/browser/viewer_test.py

Screenshots go to e2e/browser/artifacts/. Exit status 0 when every check passed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("AUDITLOG_BIN", os.path.join(ROOT, ".build", "debug", "auditlog"))
ARTIFACTS = os.path.join(ROOT, "e2e", "browser", "artifacts")
PORT = int(os.environ.get("VIEWER_TEST_PORT", "18091"))
XSS = "<img src=x onerror=alert(1)>"
FAILURES = []


def check(condition, what):
    print(("  ok    " if condition else "  FAIL  ") + what, flush=True)
    if not condition:
        FAILURES.append(what)


def start_server(data):
    env = dict(os.environ, AUDITLOG_DATA_DIR=data, AUDITLOG_PORT=str(PORT))
    for name in ("DATABASE_URL", "DATABASE_ADMIN_URL"):
        env.pop(name, None)
    log = open(os.path.join(data, "serve.out"), "w")
    server = subprocess.Popen([BINARY, "serve", "--demo"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        text = open(os.path.join(data, "serve.out")).read()
        links = dict(re.findall(r"^  (\w+)\n((?:    .*\n)+)", text, re.M))
        if "acme_msp" in links and "northwind_it" in links:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz", timeout=2)
            except OSError:
                time.sleep(0.2)
                continue
            parse = lambda block: dict(re.findall(r"^    (\w+)\s+(\S+)$", block, re.M))
            return server, parse(links["acme_msp"]), parse(links["northwind_it"])
        if server.poll() is not None:
            raise SystemExit("serve --demo exited:\n" + text)
        time.sleep(0.2)
    server.kill()
    raise SystemExit("serve --demo printed no viewer links within 2 minutes")


def browser(width=1280, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    if width < 500:  # below Chrome's smallest window: emulate the phone's viewport
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
    return driver


def wait(driver, condition, seconds=15):
    return WebDriverWait(driver, seconds).until(condition)


def entries(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#entries > li.entry")


def messages(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#entries .message")]


def recorded_views(link):
    """How many audit_log.viewed events the tenant of `link` (an admin's) holds, read through the API."""
    token = urllib.parse.unquote(re.search(r"token=([^&]+)", link).group(1))
    count, cursor = 0, None
    while True:
        query = "action=audit_log.viewed&limit=200" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/events?{query}", headers={"Authorization": "Bearer " + token})
        page = json.load(urllib.request.urlopen(request, timeout=10))
        count += len(page["events"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def claims(token):
    """The payload of a viewer token (its actor's name, role, tenant)."""
    import base64
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def settle(driver):
    """Waits until the list has finished loading (the status line stops saying Loading…)."""
    wait(driver, lambda d: d.find_element(By.ID, "status").text != "Loading…" and
         (entries(d) or d.find_element(By.ID, "empty").is_displayed()))


def no_alert(driver):
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def search(driver, text):
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    wait(driver, lambda d: f"q=" in d.current_url)
    settle(driver)


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    data = tempfile.mkdtemp(prefix="auditlog-viewer-")
    os.chmod(data, 0o755)
    server, acme, northwind = start_server(data)
    driver = None
    try:
        driver = browser()
        print("admin of acme_msp")
        driver.get(acme["admin"])
        wait(driver, lambda d: len(entries(d)) > 0)
        settle(driver)
        check(len(entries(driver)) == 50, f"the first page shows 50 entries ({len(entries(driver))})")
        check("token=" not in driver.current_url, "the token is removed from the address bar")
        check(driver.execute_script("return sessionStorage.getItem('auditlog.viewerToken') !== null"), "the token is kept in sessionStorage")
        times = driver.execute_script("return Array.from(document.querySelectorAll('#entries time')).map(t => t.dateTime)")
        check(times == sorted(times, reverse=True), "entries are newest first")
        first_time = driver.find_element(By.CSS_SELECTOR, "#entries time")
        check(bool(first_time.get_attribute("title")), "times show the absolute local time on hover")
        check(XSS in messages(driver), "the event whose message is an <img onerror> payload renders those characters as text")
        check(not driver.find_elements(By.CSS_SELECTOR, "#entries img"), "no <img> element was created from event text")
        check(no_alert(driver), "no alert fired")
        check(not any(name in " ".join(messages(driver)) for name in ("Priya Shah", "Tom Lindqvist", "Wen Zhao", "Yusuf Demir")),
              "no northwind_it activity appears for an acme_msp token")
        chips = driver.find_elements(By.CSS_SELECTOR, "#chips .chip")
        check(any(c.text.startswith("billing") for c in chips), "category chips with counts are shown")
        check(driver.find_element(By.ID, "export").is_displayed(), "admins see the export buttons")
        status = driver.find_element(By.ID, "status").text
        check(re.match(r"^\d{1,3}(,\d{3})*\+? entries", status) is not None and not status.startswith("50+"),
              f"the status counts the matching entries, not the page ({status})")
        driver.save_screenshot(os.path.join(ARTIFACTS, "desktop-list.png"))

        print("load more")
        ids_before = [e.get_attribute("data-id") for e in entries(driver)]
        driver.find_element(By.ID, "more").click()
        wait(driver, lambda d: len(entries(d)) > len(ids_before))
        settle(driver)
        ids_after = [e.get_attribute("data-id") for e in entries(driver)]
        check(ids_after[:len(ids_before)] == ids_before, "Load more appends after the first page")
        check(len(ids_after) == len(set(ids_after)) and len(ids_after) > 50, f"Load more added entries without duplicates ({len(ids_after)})")

        print("search")
        search(driver, "category:billing")
        badges = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#entries .meta .badge:not(.failure):not(.late)")]
        check(badges and all(b == "billing" for b in badges), f"category:billing shows only billing entries ({len(badges)})")
        count_billing = len(entries(driver))
        search(driver, "category:billing Mastercard")
        found = messages(driver)
        check(found and all("Mastercard" in m for m in found) and len(found) < count_billing,
              f"a free-text word narrows the list ({count_billing} -> {len(found)})")
        check("category%3Abilling" in driver.current_url or "category:billing" in driver.current_url, "the search is in the URL fragment")

        print("expand an entry")
        search(driver, "action:subscription.changed")
        summary = driver.find_element(By.CSS_SELECTOR, "#entries .summary")
        summary.click()
        table = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#entries .changes"))
        rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        plan = [r for r in rows if r[0] == "plan"]
        check(bool(plan) and plan[0][1] != plan[0][2] and plan[0][1] and plan[0][2], f"the changes table shows plan old -> new ({plan})")
        details = driver.find_element(By.CSS_SELECTOR, "#entries .details").text
        check("IP address" in details and "Request ID" in details and "acme-msp.example" in details,
              "the expanded entry shows context and the administrator")
        check(summary.get_attribute("aria-expanded") == "true", "the expanded entry says so to assistive technology")
        headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#entries .details h3")]
        check("context" in [h.lower() for h in headings], f"the request's context has its own heading ({headings})")
        empty = driver.execute_script("""return Array.from(document.querySelectorAll('#entries .details section'))
            .filter(s => s.querySelector('dl') && !s.querySelector('dl dt') && !s.querySelector('a, table')).map(s => s.querySelector('h3').textContent)""")
        check(not empty, f"no heading stands over nothing ({empty})")
        actor_link = driver.find_elements(By.PARTIAL_LINK_TEXT, "All activity by ")
        check(bool(actor_link) and actor_link[0].text != "All activity by ", "the actor link names the person (All activity by …)")
        driver.save_screenshot(os.path.join(ARTIFACTS, "desktop-expanded.png"))

        print("keyboard")
        search(driver, "action:payment_method.changed")
        first = driver.find_element(By.CSS_SELECTOR, "#entries .summary")
        driver.execute_script("arguments[0].focus()", first)
        first.send_keys(Keys.ENTER)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#entries .details"))
        redacted = driver.find_elements(By.CSS_SELECTOR, "#entries .changes .redacted")
        check(bool(redacted), "Enter expands a focused entry; the card number shows as redacted")

        print("permalink")
        entry_id = driver.find_element(By.CSS_SELECTOR, "#entries .details").find_element(By.XPATH, "..").get_attribute("data-id")
        driver.find_element(By.CSS_SELECTOR, "#entries .details .permalink").click()
        wait(driver, lambda d: "event=" in d.current_url)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#entries .details"))
        check([e.get_attribute("data-id") for e in entries(driver)] == [entry_id], "a permalink shows that entry alone")
        permalink_url = driver.current_url
        driver.get("about:blank")
        driver.get(permalink_url)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#entries .details"))
        check(driver.find_element(By.CSS_SELECTOR, "#entries .summary").get_attribute("aria-expanded") == "true",
              "opening a permalink shows the entry expanded")
        check(driver.find_element(By.ID, "scope-text").text == "One entry", "the permalink view says it shows one entry")
        search(driver, "action:payment_method.changed")
        driver.find_element(By.CSS_SELECTOR, "#entries .summary").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#entries .details"))

        print("per-resource view")
        link = driver.find_element(By.PARTIAL_LINK_TEXT, "All activity by ")
        link.click()
        wait(driver, lambda d: "actor=" in d.current_url)
        settle(driver)
        scope = driver.find_element(By.ID, "scope-text").text
        check(scope.startswith("Activity of"), f"the administrator's view is named ({scope})")

        print("no results")
        search(driver, "zzzznothingmatches")
        check(driver.find_element(By.ID, "empty").is_displayed() and "No activity matches these filters" in driver.find_element(By.ID, "empty").text,
              "an empty search says so")
        driver.save_screenshot(os.path.join(ARTIFACTS, "desktop-empty.png"))
        driver.find_element(By.ID, "clear-empty").click()
        wait(driver, lambda d: len(entries(d)) == 50)
        check(True, "Clear filters brings the log back")

        print("support of acme_msp")
        driver.get(northwind["admin"].split("#")[0] + "#")
        driver.execute_script("sessionStorage.clear()")
        before = recorded_views(acme["admin"])
        driver.get(acme["support"])
        wait(driver, lambda d: len(entries(d)) > 0)
        settle(driver)
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#chips .chip"))
        check(not driver.find_element(By.ID, "export").is_displayed(), "support does not see the export buttons")
        after = recorded_views(acme["admin"])
        check(after - before == 1, "one page load by support is one recorded view (%d)" % (after - before))

        print("live: an event posted now appears at the top without a reload")
        settle(driver)
        driver.find_element(By.ID, "live").click()
        check(driver.find_element(By.ID, "live").get_attribute("aria-pressed") == "true", "the Live toggle shows it is on")
        env = dict(os.environ, AUDITLOG_DATA_DIR=data)
        key = subprocess.run([BINARY, "keys", "create", "--name", "live"], env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        # The live view starts at its connection: wait for the browser's stream to open before posting.
        wait(driver, lambda d: d.find_element(By.ID, "live").get_attribute("data-connected") == "true")
        live_event = {"tenant": "acme_msp", "action": "client.renamed", "actor": {"id": "u_live", "name": "Lena Live"},
                      "targets": [{"type": "client", "id": "c_live", "name": "Zeta Ltd"}], "message": "Lena Live renamed client Zeta Ltd"}
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/events", method="POST", data=json.dumps(live_event).encode(),
                                         headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10)
        wait(driver, lambda d: messages(d) and messages(d)[0] == "Lena Live renamed client Zeta Ltd")
        check(messages(driver).count("Lena Live renamed client Zeta Ltd") == 1, "the live entry arrives once, at the top")
        driver.save_screenshot(os.path.join(ARTIFACTS, "desktop-live.png"))
        driver.find_element(By.ID, "live").click()
        check(driver.find_element(By.ID, "live").get_attribute("aria-pressed") == "false", "Live turns off")

        print("a pending retention cut")
        owner = urllib.parse.unquote(re.search(r"token=([^&]+)", acme["owner"]).group(1))
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/tenant/settings", method="PUT",
                                         data=json.dumps({"retention_days": 30}).encode(),
                                         headers={"Authorization": "Bearer " + owner, "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10)
        driver.get(acme["admin"])
        wait(driver, EC.visibility_of_element_located((By.ID, "pending")))
        pending_text = driver.find_element(By.ID, "pending").text
        owner_name = claims(owner).get("name", "")
        check("Retention will shorten from 90 to 30 days" in pending_text and owner_name and f"requested by {owner_name}" in pending_text,
              f"every reader sees a pending retention cut, with its date and who asked, by name ({pending_text})")

        print("a late arrival")
        late_event = {"tenant": "acme_msp", "id": "late_arrival_1", "action": "client.renamed", "actor": {"id": "u_late", "name": "Lou Late"},
                      "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 3600)),
                      "message": "Lou Late renamed a client three hours ago"}
        admin_token = urllib.parse.unquote(re.search(r"token=([^&]+)", acme["admin"]).group(1))
        def late_ids():
            request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/events?q=late:true&include=late",
                                             headers={"Authorization": "Bearer " + admin_token})
            return json.load(urllib.request.urlopen(request, timeout=10)).get("late", [])
        # The hour must be sealed before the event arrives for it to be late: wait for its digest.
        deadline = time.time() + 150
        while time.time() < deadline:
            request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/digests?from=" + late_event["occurred_at"][:13] + ":00:00Z",
                                             headers={"Authorization": "Bearer " + admin_token})
            if json.load(urllib.request.urlopen(request, timeout=10)).get("digests"):
                break
            time.sleep(2)
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/events", method="POST", data=json.dumps(late_event).encode(),
                                         headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10)
        check("late_arrival_1" in late_ids(), "the API names the late arrival (include=late)")
        driver.get(acme["admin"].split("#")[0] + "#q=late%3Atrue")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#entries .badge.late"))
        badge = driver.find_element(By.CSS_SELECTOR, "#entries .badge.late").text
        check(badge.startswith("Late · arrived "), f"a late arrival is marked with the time it arrived ({badge})")
        driver.save_screenshot(os.path.join(ARTIFACTS, "desktop-late.png"))
        driver.save_screenshot(os.path.join(ARTIFACTS, "desktop-pending.png"))

        print("admin of northwind_it")
        driver.get(northwind["admin"])
        wait(driver, lambda d: len(entries(d)) > 0)
        settle(driver)
        text = " ".join(messages(driver))
        check(XSS not in text and "Alice Moreau" not in text and "Bob Okafor" not in text,
              "a northwind_it token never shows acme_msp's messages")

        print("member")
        driver.get(acme["member"])
        wait(driver, EC.visibility_of_element_located((By.ID, "denied")))
        check("You don't have access to the audit log" in driver.find_element(By.TAG_NAME, "body").text, "a member sees the no-access message")
        check(not entries(driver) and not driver.find_element(By.ID, "log").is_displayed(), "a member sees nothing else")

        print("rejected token")
        forged = acme["admin"][:-4] + ("AAAA" if not acme["admin"].endswith("AAAA") else "BBBB")
        driver.get(forged)
        wait(driver, EC.visibility_of_element_located((By.ID, "signin")))
        check("Ask for a new link" in driver.find_element(By.ID, "signin-message").text, "a rejected token asks for a new link")
        driver.quit()

        print("phone width (375 px)")
        driver = browser(375, 812)
        driver.get(acme["admin"])
        wait(driver, lambda d: len(entries(d)) > 0)
        settle(driver)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 0, f"no horizontal scrolling at 375 px ({overflow} px)")
        driver.save_screenshot(os.path.join(ARTIFACTS, "phone-list.png"))
        driver.find_element(By.CSS_SELECTOR, "#entries .summary").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#entries .details"))
        driver.save_screenshot(os.path.join(ARTIFACTS, "phone-expanded.png"))
    except TimeoutException as error:
        FAILURES.append(f"timed out waiting: {error.msg}")
        if driver:
            driver.save_screenshot(os.path.join(ARTIFACTS, "timeout.png"))
            print("  page text:", driver.find_element(By.TAG_NAME, "body").text[:500])
    finally:
        if driver:
            driver.quit()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
    print(f"\n{'FAILED' if FAILURES else 'passed'}: {len(FAILURES)} failure(s); screenshots in {ARTIFACTS}")
    for failure in FAILURES:
        print("  -", failure)
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
