#!/usr/bin/env python3
"""The agents' desk in a real browser (headless Chromium driven by Selenium)
against the real service: crm-devbroker (the librdkafka mock cluster),
crm-scored on the event clock with its HTTP API, touchpoints produced by
crm-touch. It opens cards by deep link and by search and checks them against
the JSON API, sees an alert raised by silence appear in the at-risk queue and
its clear (a purchase) remove it without a reload, shows the control group
and the campaign outcomes as the JSON API gives them, and signs in with a
token when the service requires one. Screenshots of each view go to
BUILD_DIR/screenshots/desk-*.png.

Usage: desk_test.py (the environment names the binaries and the build dir:
CRM_SCORED_BIN, CRM_DEVBROKER_BIN, CRM_TOUCH_BIN, CRM_BUILD_DIR; optional
CHROMEDRIVER, default /usr/bin/chromedriver). Every wait is on a condition
with a deadline; every process started is stopped."""
import datetime
import json
import os
import pathlib
import re
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

SCORED = os.environ.get("CRM_SCORED_BIN", "")
DEVBROKER = os.environ.get("CRM_DEVBROKER_BIN", "")
TOUCH = os.environ.get("CRM_TOUCH_BIN", "")
BUILD_DIR = pathlib.Path(os.environ.get("CRM_BUILD_DIR", "."))
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = BUILD_DIR / "screenshots"

DEADLINE_S = 90  # a bound on every wait, never a duration asserted
EPOCH = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)  # kTestEpochSeconds
READER_TOKEN = "0123456789abcdef-desk-token"


def touchpoint(customer, event_id, day, kind="PURCHASE", amount=40.0, **extra):
    """A touchpoint of `customer` on the web, `day` days after the epoch, as
    protobuf's JSON mapping (what crm-touch reads)."""
    at = EPOCH + datetime.timedelta(days=day)
    message = {"eventId": event_id, "customerId": customer, "channel": "WEB", "type": kind,
               "occurredAt": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if kind == "PURCHASE":
        message["amount"] = amount
    message.update(extra)
    return message


def wait_until(condition, what, deadline_s=DEADLINE_S):
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Process:
    """A child process whose output goes to a file, stopped by stop()."""

    def __init__(self, args, log_path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, pattern):
        def found():
            if self.popen.poll() is not None:
                raise AssertionError(f"exited with {self.popen.returncode}:\n{self.log()[-4000:]}")
            return re.search(pattern, self.log())
        return wait_until(found, f"/{pattern}/ in {self.log_path}").group(1)

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


class DeskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for binary in (SCORED, DEVBROKER, TOUCH):
            if not binary or not os.access(binary, os.X_OK):
                raise AssertionError(f"not an executable: {binary!r} (see the usage)")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def setUp(self):
        self.processes = []
        self.driver = None
        directory = tempfile.TemporaryDirectory(prefix="desk-test-")
        self.addCleanup(directory.cleanup)
        self.addCleanup(self.stop_all)  # first: cleanups run last in, first out
        self.tmp = pathlib.Path(directory.name)
        # A broker of each test's own (the changelog topic holds a service's
        # state and offsets), with one partition: on the event clock a
        # partition's own time moves its looks, so another customer's events
        # make a silent one at risk.
        broker = Process([DEVBROKER, "--partitions", "1"], self.tmp / "broker.log")
        self.processes.append(broker)
        self.brokers = broker.wait_for_log(r"bootstrap=(\S+)\n")

    def stop_all(self):
        if self.driver:
            self.driver.quit()
        for process in reversed(self.processes):
            process.stop()

    # -- helpers ---------------------------------------------------------------

    def produce(self, touchpoints):
        lines = "".join(json.dumps(t) + "\n" for t in touchpoints)
        result = subprocess.run([TOUCH, "--brokers", self.brokers, "--strict"], input=lines.encode(),
                                capture_output=True, timeout=DEADLINE_S)
        self.assertEqual(result.returncode, 0, result.stderr.decode(errors="replace"))

    def start_service(self, name, *extra):
        data = self.tmp / name
        service = Process([SCORED, "--brokers", self.brokers, "--data-dir", str(data),
                           "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                           "--http-listen", "127.0.0.1:0", "--clock", "event", "--group", name,
                           "--kafka", "session.timeout.ms=6000", "--kafka", "fetch.wait.max.ms=10",
                           *extra], self.tmp / f"{name}.log")
        self.processes.append(service)
        port = service.wait_for_log(r"HTTP listening on 127\.0\.0\.1:(\d+)")
        self.service = service
        self.base = f"http://127.0.0.1:{port}"
        return service

    def api(self, path, token=None):
        """The JSON API's answer, or None for a 404."""
        request = urllib.request.Request(self.base + path)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code in (404, 503):
                return None
            raise

    def wait_applied(self, customer, events, token=None):
        def applied():
            state = self.api(f"/v1/customers/{customer}/state", token)
            return state is not None and int(state.get("eventsApplied", "0")) >= events
        wait_until(applied, f"{events} events of {customer} applied\n{self.service.log()[-3000:]}")

    def watch_alerts(self):
        """Alerts read from the JSON API's event stream, in a thread."""
        alerts = []
        response = urllib.request.urlopen(self.base + "/v1/alerts:watch?include_cleared=true",
                                          timeout=DEADLINE_S * 3)
        self.addCleanup(response.close)

        def read():
            try:
                for line in response:
                    if line.startswith(b"data:"):
                        alerts.append(json.loads(line[5:]))
            except (OSError, ValueError):
                pass  # the stream ends with the test
        threading.Thread(target=read, daemon=True).start()
        return alerts

    def open_browser(self):
        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1300", "--lang=en-GB"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": "en-GB,en"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        return self.driver

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.driver, DEADLINE_S, poll_frequency=0.1).until(
                lambda driver: condition())
        except Exception as error:
            self.screenshot("failure")
            raise AssertionError(f"timed out waiting for {what}\n{self.service.log()[-3000:]}") \
                from error

    def find(self, selector):
        found = self.driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0] if found else None

    def visible(self, selector):
        element = self.find(selector)
        return element is not None and element.is_displayed()

    def screenshot(self, name):
        path = SCREENSHOTS / f"desk-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def card_matches(self, customer, scores):
        """The card shown is `customer`'s and shows these scores."""
        card = self.find("#card")
        if scores is None or "churn" not in scores:
            return False
        if card is None or not card.is_displayed() or card.get_attribute("data-customer-id") != customer:
            return False
        churn = self.find("#churn-value").get_attribute("data-value")
        at_risk = self.find("#value-at-risk").get_attribute("data-value")
        stage = self.find("#lifecycle-stage").get_attribute("data-value")
        return (churn != "" and abs(float(churn) - scores["churn"]) < 1e-9 and
                abs(float(at_risk) - scores.get("valueAtRisk", 0)) < 1e-9 and
                stage == scores["lifecycleStage"])

    def assert_card_shows_api(self, customer, token=None):
        scores = self.wait(lambda: self.card_matches(customer, self.api(
            f"/v1/customers/{customer}/scores", token)), f"{customer}'s card as the JSON API")
        self.assertTrue(scores)
        freshness = self.find("#card-freshness").text
        api_scores = self.api(f"/v1/customers/{customer}/scores", token)
        self.assertIn(api_scores["freshness"]["servedBy"], freshness)
        reasons = [r["sentence"] for r in api_scores.get("reasons", [])]
        shown = self.find("#churn-reasons").text
        for sentence in reasons:
            self.assertIn(sentence, shown)
        # The timeline: each of the customer's recent touchpoints, by when it
        # happened, newest first (the API lists them as they were applied).
        state = self.api(f"/v1/customers/{customer}/state", token)
        recent = [t["eventId"] for t in sorted(state.get("recentTouchpoints", []),
                                               key=lambda t: t.get("occurredAt", ""), reverse=True)]
        self.wait(lambda: [item.get_attribute("data-event-id") for item in self.driver.find_elements(
            By.CSS_SELECTOR, "#timeline li[data-event-id]")] == recent, "the timeline as the API")

    # -- the tests -------------------------------------------------------------

    def test_cards_and_the_live_queue(self):
        # A steady buyer, every 14 days to day 266, who consented to e-mail.
        history = [touchpoint("steady", f"s{i}", 14 * i) for i in range(20)]
        history.append(touchpoint("steady", "consent", 1, "CONSENT", channel="EMAIL",
                                  consentGranted=True))
        self.produce(history)
        self.start_service("desk-live")
        self.wait_applied("steady", 21)
        alerts = self.watch_alerts()
        driver = self.open_browser()

        # A card by deep link shows what the JSON API returns.
        driver.get(self.base + "/?customer=steady")
        self.assert_card_shows_api("steady")
        # The action recommended now, with no alert: the scores' own.
        self.assertEqual(self.find("#recommended-action").get_attribute("data-value"),
                         self.api("/v1/customers/steady/scores")["recommendedAction"])
        self.assertIn("e-mail", self.find("#consent").text)
        self.screenshot("card")
        # In French, at the switch.
        self.find("#lang-switch").click()
        self.wait(lambda: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr" and
                  "Risque de départ" in self.find("#view-card").text and
                  self.find("#live-status").text == "En direct", "the card in French")
        self.screenshot("card-fr")
        self.find("#lang-switch").click()
        self.wait(lambda: "Risk of leaving" in self.find("#view-card").text, "the card in English")

        # By search, from the queue; an unknown customer is "not found".
        driver.get(self.base + "/")
        self.wait(lambda: self.visible("#view-queue") and self.find("#queue").get_attribute("data-query"),
                  "the queue loaded")
        self.assertIsNone(self.find('#queue tr[data-customer-id="steady"]'))  # not at risk yet
        search = self.find("#search-input")
        search.send_keys("nobody-here")
        self.find("#search-button").click()
        self.wait(lambda: self.find("#status").get_attribute("data-state") == "not-found",
                  "not found")
        self.screenshot("not-found")
        search.clear()
        search.send_keys("steady", Keys.ENTER)  # the keyboard alone opens a card
        self.assert_card_shows_api("steady")
        self.assertTrue(driver.current_url.endswith("/?customer=steady"))

        # The queue, kept open: the page is never reloaded from here on.
        self.find("#nav-queue").click()
        self.wait(lambda: self.visible("#view-queue") and self.find("#live-status")
                  .get_attribute("data-state") == "connected", "the queue, live")
        driver.execute_script("window.deskNotReloaded = true;")
        # Lost customers too: by the time the ticker's last event is applied
        # the steady buyer may be held as gone rather than leaving.
        self.find("#filter-lost").click()
        self.wait(lambda: "include_lost=true" in self.find("#queue").get_attribute("data-query"),
                  "the queue with lost customers")
        # Silence while another customer moves time on: an alert is raised
        # and the customer appears in the queue.
        self.produce([touchpoint("ticker", f"t{day}", day, "CONTACT") for day in range(266, 501, 2)])
        raised = wait_until(lambda: next((a for a in alerts if a["customerId"] == "steady" and
                                          a["transition"] == "ALERT_TRANSITION_RAISED"), None),
                            "steady's alert on the JSON stream")
        row = '#queue tr[data-customer-id="steady"]'
        self.wait(lambda: self.find(row) is not None, "steady in the queue")
        self.assertTrue(driver.execute_script("return window.deskNotReloaded === true;"))
        self.screenshot("queue")
        # The stage filter is the page's own: another stage hides the row.
        stage = self.api("/v1/customers/steady/scores")["lifecycleStage"]
        other = "PROSPECT" if stage != "PROSPECT" else "MATURITY"
        Select(self.find("#filter-stage")).select_by_value(other)
        self.wait(lambda: self.find(row) is None, f"steady hidden at stage {other}")
        Select(self.find("#filter-stage")).select_by_value(stage)
        self.wait(lambda: self.find(row) is not None, f"steady shown at stage {stage}")
        # The row opens the card: the action and channel recommended now, and
        # what the alert recommended when it was raised.
        self.find(row + " button").click()
        self.assert_card_shows_api("steady")
        now = self.api("/v1/customers/steady/scores")
        self.wait(lambda: self.find("#recommended-action").get_attribute("data-value") ==
                  now["recommendedAction"], "the action recommended now on the card")
        self.assertEqual(self.find("#recommended-channel").get_attribute("data-value"),
                         now.get("recommendedChannel", "CHANNEL_UNSPECIFIED"))
        self.wait(lambda: raised["alertId"] in self.find("#action-source").text,
                  "the alert's own recommendation on the card")
        self.screenshot("card-alerted")
        driver.back()
        self.wait(lambda: self.visible("#view-queue") and self.find(row) is not None,
                  "steady in the queue again")

        # They buy again: the alert is cleared and the row leaves the queue.
        self.produce([touchpoint("steady", "back", 501)])
        wait_until(lambda: any(a["customerId"] == "steady" and
                               a["transition"] == "ALERT_TRANSITION_CLEARED" for a in alerts),
                   "steady's clear on the JSON stream")
        self.wait(lambda: self.find(row) is None, "steady out of the queue")
        self.assertTrue(driver.execute_script("return window.deskNotReloaded === true;"))
        self.screenshot("queue-cleared")

        # The live alerts: the raise and the clear, filterable.
        self.find("#nav-alerts").click()
        item = '#alerts li[data-customer-id="steady"][data-transition="ALERT_TRANSITION_{}"]'
        self.wait(lambda: self.find(item.format("RAISED")) and self.find(item.format("CLEARED")),
                  "the raise and the clear in the alerts view")
        self.screenshot("alerts")
        Select(self.find("#alerts-transition")).select_by_value("ALERT_TRANSITION_CLEARED")
        self.wait(lambda: self.find(item.format("RAISED")) is None and
                  self.find(item.format("CLEARED")) is not None, "clears only")
        self.assertTrue(driver.execute_script("return window.deskNotReloaded === true;"))

    def test_the_control_group_is_told_no_proactive_contact(self):
        # Valuable steady buyers who consented to e-mail, half their alerts
        # held out: the desk says which, as the alerts themselves do.
        # In time order across customers: the partition's time is the latest
        # applied, and a customer's first purchase looked at after the
        # others' last would raise an alert at once.
        customers = [f"held-{n}" for n in range(8)]
        history = [touchpoint(customer, f"{customer}-consent", 0, "CONSENT", channel="EMAIL",
                              consentGranted=True) for customer in customers]
        for i in range(20):
            history += [touchpoint(customer, f"{customer}-{i}", 14 * i, amount=400.0)
                        for customer in customers]
        self.produce(history)
        self.start_service("desk-control", "--control-share", "0.5")
        for customer in customers:
            self.wait_applied(customer, 21)
        alerts = self.watch_alerts()
        driver = self.open_browser()
        driver.get(self.base + "/")
        self.find("#nav-alerts").click()
        self.wait(lambda: self.find("#live-status").get_attribute("data-state") == "connected",
                  "the alerts stream")
        self.produce([touchpoint("ticker", f"t{day}", day, "CONTACT") for day in range(266, 501, 2)])
        wait_until(lambda: len({a["customerId"] for a in alerts}) == len(customers),
                   "every customer's alert on the JSON stream")
        held = [a for a in alerts if a.get("control")]
        self.assertTrue(held, "the alert ids of these customers put some in the control group")
        for alert in alerts:
            reason = alert.get("notForMarketingReason", "")
            self.assertEqual(reason == "CONTROL_GROUP", alert.get("control", False), alert)
            self.assertEqual(reason == "", alert.get("forMarketing", False), alert)
            line = f'#alerts li[data-alert-id="{alert["alertId"]}"]'
            self.wait(lambda: self.find(line) is not None, f"alert {alert['alertId']} listed")
            note = self.find(line + " [data-marketing]")
            self.assertEqual(note.get_attribute("data-marketing") if note else "", reason)
        self.screenshot("alerts-control")
        customer = held[0]["customerId"]
        driver.get(self.base + f"/?customer={customer}")
        self.assert_card_shows_api(customer)
        self.wait(lambda: self.find("#action-marketing").get_attribute("data-value") ==
                  "CONTROL_GROUP" and "no proactive contact" in self.find("#action-marketing").text,
                  "the control group on the card")
        self.assertTrue(self.api(f"/v1/customers/{customer}/scores")["control"])
        self.screenshot("card-control")
        self.check_outcomes_page(alerts)

    def check_outcomes_page(self, alerts):
        """The campaign tool's part (a contact for each alert for marketing, a
        purchase within the window for every other customer), then the
        outcomes page against GetAlertOutcomes' JSON."""
        raised = sorted((a for a in alerts if a["transition"] == "ALERT_TRANSITION_RAISED"),
                        key=lambda a: a["customerId"])
        follow, contacted, back = [], 0, 0
        for n, alert in enumerate(raised):
            at = datetime.datetime.fromisoformat(alert["raisedAt"].replace("Z", "+00:00"))
            day = (at - EPOCH).total_seconds() / 86400
            customer = alert["customerId"]
            if alert.get("forMarketing"):
                follow.append(touchpoint(customer, f"{customer}-mail", day + 1, "CAMPAIGN_CONTACT",
                                         channel="EMAIL", campaignId=alert["alertId"]))
                contacted += 1
            if n % 2 == 0:
                follow.append(touchpoint(customer, f"{customer}-back", day + 3, amount=120.0))
                back += 1
        self.produce(follow)

        def counted():
            answer = self.api("/v1/alerts/outcomes")
            groups = [answer.get(g, {}) for g in ("treated", "control")]
            return (sum(int(g.get("contacted", "0")) for g in groups) == contacted and
                    sum(int(g.get("recovered", "0")) for g in groups) == back)
        wait_until(counted, f"{contacted} contacts and {back} recoveries in the outcomes")
        answer = self.api("/v1/alerts/outcomes")
        self.assertEqual(int(answer["treated"]["alerts"]) + int(answer["control"]["alerts"]),
                         len(raised))
        self.driver.get(self.base + "/?view=outcomes")
        self.wait(lambda: self.visible("#view-outcomes"), "the outcomes view")
        for group in ("treated", "control"):
            for field in ("alerts", "contacted", "recovered"):
                want = str(int(answer.get(group, {}).get(field, "0")))
                self.wait(lambda: self.find(f"#outcomes-{group}-{field}").text == want,
                          f"{group} {field} = {want} on the page")
        if answer.get("upliftKnown"):
            value = round(answer.get("uplift", 0) * 100)
            self.assertEqual(self.find("#outcomes-uplift").text,
                             ("+" if value > 0 else "") + str(value) + " pts")
        self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, "#outcomes-weeks tbody tr")),
                         len(answer.get("weeks", [])))
        self.screenshot("outcomes")
        self.find("#lang-switch").click()
        self.wait(lambda: self.find("#outcomes-title").text == "La reconquête a-t-elle marché ?",
                  "the outcomes in French")
        self.screenshot("outcomes-fr")

    def test_a_service_that_wants_a_token_gets_one(self):
        tokens = self.tmp / "readers"
        tokens.write_text(f"desk:{READER_TOKEN}\n", encoding="utf-8")
        self.produce([touchpoint("solo", f"o{i}", 10 * i) for i in range(5)])
        self.start_service("desk-auth", "--grpc-auth", "all", "--reader-token-file", str(tokens))
        self.wait_applied("solo", 5, READER_TOKEN)
        driver = self.open_browser()

        driver.get(self.base + "/?customer=solo")
        self.wait(lambda: self.visible("#token-form") and
                  self.find("#status").get_attribute("data-state") == "unauthorised",
                  "the token prompt")
        self.screenshot("token")
        # A token the service does not know is refused, and another asked.
        self.find("#token-input").send_keys("not-the-right-token-at-all")
        self.find("#token-submit").click()
        self.wait(lambda: self.visible("#token-form") and
                  self.find("#status").get_attribute("data-state") == "forbidden",
                  "the token prompt again")
        self.find("#token-input").send_keys(READER_TOKEN)
        self.find("#token-submit").click()
        self.assert_card_shows_api("solo", READER_TOKEN)
        self.wait(lambda: self.find("#live-status").get_attribute("data-state") == "connected",
                  "the alerts stream with the token")
        self.screenshot("card-signed-in")


if __name__ == "__main__":
    unittest.main(verbosity=2)
