"""Send one alert to every configured channel, retrying what is worth it, inside one time limit.

An alert reports a failure; it must never become one: `notify` never raises and never changes the job's
outcome. It returns one line per channel for the job log, naming the channel's kind and host only.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_before_delay

from ci.alerts import channels as channel_config
from ci.alerts import services
from ci.alerts.channels import Channel
from ci.alerts.message import Alert
from ci.alerts.services import Verdict

log = logging.getLogger("ci.alerts")

DEFAULT_ATTEMPTS = 3  # ALERT_ATTEMPTS: tries per channel
DEFAULT_TIME_LIMIT_S = 60.0  # ALERT_TIME_LIMIT: for all channels together, retries and waits included
MAX_ATTEMPTS = 10
REQUEST_TIMEOUT_S = 10.0
FIRST_WAIT_S = 1.0  # then doubled; a Retry-After answer sets it instead
MAX_WAIT_S = 20.0


class _Retryable(Exception):
    def __init__(self, verdict: Verdict):
        super().__init__(verdict.reason)
        self.verdict = verdict


def notify(alert: Alert, extra_urls: tuple[str | None, ...] = ()) -> list[str]:
    """Send `alert` to ALERT_URLS, ALERT_WEBHOOK_URL and `extra_urls` (each channel once); one line each."""
    try:
        env = os.environ
        found, lines = channel_config.configured(env.get("ALERT_URLS"), env.get("ALERT_WEBHOOK_URL"), *extra_urls)
        if not found:
            return lines + ["alert skipped: ALERT_URLS (or ALERT_WEBHOOK_URL) not set"]
        attempts = _setting(lines, "ALERT_ATTEMPTS", DEFAULT_ATTEMPTS, int, 1, MAX_ATTEMPTS)
        time_limit = _setting(lines, "ALERT_TIME_LIMIT", DEFAULT_TIME_LIMIT_S, float, 1.0, 3600.0)
        deadline = time.monotonic() + time_limit
        with _quiet_transport():
            lines += [deliver(channel, alert, attempts, deadline) for channel in found]
        return lines
    except Exception as exc:
        log.debug("alert failed", exc_info=True)
        return [f"alert not sent: {type(exc).__name__}"]


def deliver(channel: Channel, alert: Alert, attempts: int, deadline: float) -> str:
    """One channel: post, judge the answer, retry a retryable one while attempts and time remain."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return f"alert NOT sent to {channel.describe()}: the alerts' time limit ran out before its turn"
    retrying = Retrying(stop=stop_after_attempt(attempts) | stop_before_delay(remaining), wait=_wait,
                        retry=retry_if_exception_type(_Retryable), reraise=True)
    try:
        for attempt in retrying:
            with attempt:
                verdict = post(channel, alert, min(REQUEST_TIMEOUT_S, max(1.0, deadline - time.monotonic())))
                if verdict.retry:
                    raise _Retryable(verdict)
    except _Retryable as exc:
        tries = retrying.statistics.get("attempt_number", 1)
        return (f"alert NOT sent to {channel.describe()}: {_scrub(exc.verdict.reason, channel)}; "
                f"gave up after {tries} attempt{'s' if tries != 1 else ''}")
    tries = retrying.statistics.get("attempt_number", 1)
    after = f" after {tries} attempts" if tries > 1 else ""
    if verdict.sent:
        return f"alert sent to {channel.describe()}{after}"
    return f"alert NOT sent to {channel.describe()}: {_scrub(verdict.reason, channel)}{after}; not retried"


def post(channel: Channel, alert: Alert, timeout: float) -> Verdict:
    request = services.request(channel, alert)
    try:
        response = requests.post(request.url, params=request.params or None, json=request.body, timeout=timeout,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        return Verdict(False, True, f"no answer ({type(exc).__name__})")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return services.judge(channel.kind, response.status_code, response.text, payload,
                          _seconds(response.headers.get("Retry-After")))


def _wait(state: RetryCallState) -> float:
    verdict = state.outcome.exception().verdict
    if verdict.retry_after is not None:
        return min(verdict.retry_after, MAX_WAIT_S)
    return min(FIRST_WAIT_S * 2 ** (state.attempt_number - 1), MAX_WAIT_S)


def _seconds(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:  # an HTTP date: rare for these services; the backoff applies
        return None


def _scrub(text: str, channel: Channel) -> str:
    for secret in channel.secrets():
        text = text.replace(secret, "***")
    return text


def _setting(lines: list[str], name: str, default, kind, low, high):
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        lines.append(f"{name}={raw!r} is not a number from {low} to {high}; using {default}")
        return default
    return value


@contextlib.contextmanager
def _quiet_transport():
    """urllib3 logs each request line, query (a webhook key) included, at debug level, which `-v` shows."""
    logger = logging.getLogger("urllib3")
    saved = logger.level
    logger.setLevel(max(saved, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(saved)
