"""schemathesis against the app's own OpenAPI document: no request it generates gets a 5xx.

The webhook declares its bodies per envelope (it reads raw bytes, so they are
declared by hand), so the generated requests are envelope-shaped as well as
malformed ones. Bounded: a fixed number of examples per operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from ctsync.config import Settings
from ctsync.web import create_app
from tests import payloads
from tests.helpers import ThreadServer

MAX_EXAMPLES = 150


@pytest.fixture
def app_url(db_url: str) -> Iterator[str]:
    # both stores: PostgreSQL refuses more; no credentials, so the opt-in of a local trial
    settings = Settings(DATABASE_URL=db_url, CTSYNC_ALLOW_UNVERIFIED="true")
    with ThreadServer(create_app(settings)) as server:
        yield server.url
        # the service still works after everything schemathesis threw at it
        r = httpx.post(f"{server.url}/api/webhook", json=payloads.created(), timeout=10)
        assert r.json()["status"] in {"accepted", "duplicate"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_webhook_never_answers_5xx(app_url: str, mode: GenerationMode) -> None:
    # schemathesis' pytest loader does not run under pytest 9: its strategy, under @given.
    schema = schemathesis.openapi.from_url(f"{app_url}/openapi.json")
    webhook = schema.include(path_regex=r"^/api/webhook")
    answers: Counter[int] = Counter()
    kinds: Counter[str] = Counter()

    @given(case=webhook.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=app_url, timeout=10)
        answers[response.status_code] += 1
        kinds[f"{case.operation.label} {case.media_type or ''}"] += 1
        case.validate_response(response, checks=[not_a_server_error])

    check()
    print(f"schemathesis {mode.value}: {answers.total()} requests, by status {dict(answers)}")
    print(dict(kinds))
    assert not [code for code in answers if code >= 500]
    assert answers.total() >= MAX_EXAMPLES // 2
