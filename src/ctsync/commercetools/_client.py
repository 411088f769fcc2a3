"""The thin commercetools HTTP API client: OAuth2 client credentials, reads, id-cursor paging.

One ``httpx.AsyncClient`` per client (connection pooling). The access token is
cached and fetched again before it expires, and once when the API answers 401
(a token revoked early). 429, 5xx and network errors are retried with
exponential backoff and jitter (stamina), honouring Retry-After; whatever is
left is raised as ctsync's typed errors (``RetryableError``, ``NotFound``,
``AuthFailed``, ``PermanentError``), translated here, at the edge.
Full scans page by id (``sort=id asc``, ``where=id > "<last>"``,
``withTotal=false``): offset paging stops at 10,000 and costs more per page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ctsync.commercetools._errors import AuthFailed, NotFound
from ctsync.config import Settings
from ctsync.errors import ConfigError, PermanentError, RetryableError
from ctsync.sinks._segment import _retry_after

__all__ = ["ApiConfig", "CommercetoolsClient", "Page", "RetryOptions"]

Resource = Literal["customers", "orders", "subscriptions"]
MAX_PAGE = 500
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_KEEP = 500  # characters of an error answer kept in an error


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Where and as whom to call the API (the CTP_* settings)."""

    project_key: str
    client_id: str
    client_secret: str
    auth_url: str
    api_url: str
    scopes: str | None = None

    def __repr__(self) -> str:
        return f"ApiConfig(project_key={self.project_key!r}, api_url={self.api_url!r}, secret=***)"

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        """The API settings; ConfigError naming every CTP_* variable that is missing."""
        values = {
            "CTP_PROJECT_KEY": settings.ctp_project_key,
            "CTP_CLIENT_ID": settings.ctp_client_id,
            "CTP_CLIENT_SECRET": (
                settings.ctp_client_secret.get_secret_value()
                if settings.ctp_client_secret
                else None
            ),
            "CTP_AUTH_URL": settings.ctp_auth_url,
            "CTP_API_URL": settings.ctp_api_url,
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            msg = (
                f"the commercetools API client needs {', '.join(missing)} (the values of an "
                "API client from the Merchant Center: Settings > Developer settings)"
            )
            raise ConfigError(msg)
        return cls(
            project_key=str(values["CTP_PROJECT_KEY"]),
            client_id=str(values["CTP_CLIENT_ID"]),
            client_secret=str(values["CTP_CLIENT_SECRET"]),
            auth_url=str(values["CTP_AUTH_URL"]).rstrip("/"),
            api_url=str(values["CTP_API_URL"]).rstrip("/"),
            scopes=settings.ctp_scopes or None,
        )


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """How hard one call tries before its error is raised (stamina's parameters)."""

    attempts: int = 6
    timeout_s: float = 60.0
    wait_initial_s: float = 0.5
    wait_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query: its resources, and the answer's text as the API sent it."""

    results: list[dict[str, Any]]
    text: str


@dataclass(slots=True)
class _Token:
    value: str
    refresh_at: float


class CommercetoolsClient:
    """Reads customers, orders and subscriptions of one project."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        timeout_s: float = 10.0,
        retry: RetryOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._retry = retry or RetryOptions()
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            headers={"User-Agent": "ctsync"},
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"CommercetoolsClient({self.config!r})"

    async def __aenter__(self) -> CommercetoolsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def get_customer(self, customer_id: str) -> dict[str, Any]:
        """The customer as the API has it now; NotFound when it is gone."""
        return await self.get("customers", customer_id)

    async def get_order(self, order_id: str) -> dict[str, Any]:
        """The order as the API has it now; NotFound when it is gone."""
        return await self.get("orders", order_id)

    async def get(self, resource: Resource, resource_id: str) -> dict[str, Any]:
        """One resource by id."""
        return await self.request("GET", f"/{resource}/{quote(resource_id, safe='')}")

    async def count(self, resource: Resource, *, where: Sequence[str] = ()) -> int:
        """How many resources match ``where`` (one query with ``withTotal=true``)."""
        # Sorted by id like the pages: the query the API (and its emulator) pages anyway.
        params = [("sort", "id asc"), ("limit", "1"), ("withTotal", "true")]
        if predicate := _and(where):
            params.append(("where", predicate))
        page = await self.request("GET", f"/{resource}", params=params)
        total = page.get("total")
        if not isinstance(total, int):
            msg = f"the {resource} query answered without 'total'"
            raise PermanentError(msg)
        return total

    async def get_subscription(self, key: str) -> dict[str, Any]:
        """The subscription with this key (its ``status`` is its health)."""
        return await self.request("GET", f"/subscriptions/key={quote(key, safe='')}")

    async def pages(
        self,
        resource: Resource,
        *,
        where: Sequence[str] = (),
        after: str | None = None,
        limit: int = MAX_PAGE,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every resource matching ``where``, by ascending id after ``after``, a page at a time.

        One page is held at a time (constant memory). The next page starts after the
        last id seen, so neither new resources nor deleted ones shift the scan.
        """
        async for page in self.raw_pages(resource, where=where, after=after, limit=limit):
            yield page.results

    async def raw_pages(
        self,
        resource: Resource,
        *,
        where: Sequence[str] = (),
        after: str | None = None,
        limit: int = MAX_PAGE,
        ids_from: str | None = None,
        ids_below: str | None = None,
    ) -> AsyncIterator[Page]:
        """``pages``, each with the answer's text as the API sent it (a backfill stores it).

        ``ids_from``/``ids_below`` keep the scan to ids in [from, below): several
        such ranges are read at once (commercetools ids are random UUIDs, so
        ranges cut at hex digits hold about as many resources each).
        """
        if not 1 <= limit <= MAX_PAGE:
            msg = f"a page holds 1 to {MAX_PAGE} resources, not {limit}"
            raise ValueError(msg)
        bounds = [f"id >= {_literal(ids_from)}"] if ids_from else []
        bounds += [f"id < {_literal(ids_below)}"] if ids_below else []
        last = after
        while True:
            params = [("sort", "id asc"), ("limit", str(limit)), ("withTotal", "false")]
            predicate = _and([*where, *bounds, *([f"id > {_literal(last)}"] if last else [])])
            if predicate:
                params.append(("where", predicate))
            page, text = await self._request("GET", f"/{resource}", params=params, json=None)
            results = page.get("results")
            if not isinstance(results, list) or not all(_has_id(r) for r in results):
                msg = f"the {resource} query answered without 'results' that each have an id"
                raise PermanentError(msg)
            if results:
                yield Page(results, text)
            if len(results) < limit:
                return
            last = str(results[-1]["id"])

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json: Any = None,
    ) -> dict[str, Any]:
        """One API call under ``/{projectKey}``, retried on transient failures."""
        body, _ = await self._request(method, path, params=params, json=json)
        return body

    async def _request(
        self, method: str, path: str, *, params: Sequence[tuple[str, str]] = (), json: Any
    ) -> tuple[dict[str, Any], str]:
        """``request``, with the answer's text."""
        # Imported on first use: the web app's cold start need not pay for it (~20 ms).
        import stamina  # noqa: PLC0415

        url = f"{self.config.api_url}/{quote(self.config.project_key, safe='')}{path}"
        opts = self._retry
        retrying = stamina.retry_context(
            on=_backoff,
            attempts=opts.attempts,
            timeout=opts.timeout_s,
            wait_initial=opts.wait_initial_s,
            wait_max=opts.wait_max_s,
        )
        async for attempt in retrying:
            with attempt:
                return await self._call(method, url, params=params, json=json)
        msg = "unreachable: stamina raises the last error"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    async def _call(
        self, method: str, url: str, *, params: Sequence[tuple[str, str]], json: Any
    ) -> tuple[dict[str, Any], str]:
        """Send once with the cached token; once more with a new one on a 401."""
        for fresh in (False, True):
            token = await self._access_token(force=fresh)
            response = await self._send(
                method, url, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code != 401:
                return _judge(response, url), response.text
        msg = "the commercetools API refused a freshly issued token (HTTP 401)"
        raise AuthFailed(msg, status_code=401, response=response.text[:_KEEP])

    async def _access_token(self, *, force: bool = False) -> str:
        """The cached token, fetched again before it expires (or when ``force``)."""
        async with self._token_lock:
            token = self._token
            if token is not None and not force and self._clock() < token.refresh_at:
                return token.value
            self._token = await self._fetch_token()
            return self._token.value

    async def _fetch_token(self) -> _Token:
        data = {"grant_type": "client_credentials"}
        if self.config.scopes:
            data["scope"] = self.config.scopes
        started = self._clock()
        response = await self._send(
            "POST",
            f"{self.config.auth_url}/oauth/token",
            data=data,
            auth=(self.config.client_id, self.config.client_secret),
        )
        if response.status_code in {400, 401, 403}:
            msg = (
                f"commercetools refused the client credentials (HTTP {response.status_code}): "
                "check CTP_CLIENT_ID, CTP_CLIENT_SECRET, CTP_SCOPES and CTP_AUTH_URL"
            )
            raise AuthFailed(msg, status_code=response.status_code)
        body = _judge(response, f"{self.config.auth_url}/oauth/token")
        value, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(value, str) or not isinstance(expires_in, int | float):
            msg = "the token endpoint answered without access_token and expires_in"
            raise PermanentError(msg)
        # Refresh well before expiry: 5 minutes early, or halfway for short-lived tokens.
        lifetime = max(0.0, min(float(expires_in) - 300.0, float(expires_in) * 0.9))
        return _Token(value, started + lifetime)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            msg = f"timeout talking to {_origin(url)}: {type(exc).__name__}"
            raise RetryableError(msg) from exc
        except httpx.HTTPError as exc:
            msg = f"network error talking to {_origin(url)}: {type(exc).__name__}"
            raise RetryableError(msg) from exc


def _judge(response: httpx.Response, url: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a typed error for anything else."""
    code = response.status_code
    if 200 <= code < 300:
        try:
            body = response.json()
        except ValueError as exc:
            msg = f"{_origin(url)} answered HTTP {code} with a body that is not JSON"
            raise PermanentError(msg, status_code=code) from exc
        if not isinstance(body, dict):
            msg = f"{_origin(url)} answered HTTP {code} with JSON that is not an object"
            raise PermanentError(msg, status_code=code)
        return body
    text = response.text[:_KEEP]
    if code in _RETRY_STATUSES:
        msg = f"HTTP {code} from the commercetools API"
        retry_after = _retry_after(response.headers.get("retry-after"))
        raise RetryableError(msg, status_code=code, response=text, retry_after=retry_after)
    if code == 404:
        raise NotFound(f"not found (HTTP 404): {_path(url)}", status_code=code, response=text)
    if code == 403:
        msg = f"the API client may not do this (HTTP 403; check CTP_SCOPES): {_path(url)}"
        raise AuthFailed(msg, status_code=code, response=text)
    msg = f"HTTP {code} from the commercetools API" + _explained(response)
    raise PermanentError(msg, status_code=code, response=text)


def _explained(response: httpx.Response) -> str:
    """commercetools' own message for a refused request (a bad predicate, say)."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:300]}" if message else ""


def _backoff(exc: Exception) -> bool | float:
    """stamina's hook: retry RetryableErrors, after Retry-After when the API gave one."""
    if not isinstance(exc, RetryableError):
        return False
    return exc.retry_after if exc.retry_after is not None else True


def _has_id(resource: object) -> bool:
    return (
        isinstance(resource, dict) and isinstance(resource.get("id"), str) and bool(resource["id"])
    )


def _literal(value: str) -> str:
    """A string literal of commercetools' query predicate language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _and(predicates: Sequence[str]) -> str:
    if len(predicates) <= 1:
        return predicates[0] if predicates else ""
    return " and ".join(f"({p})" for p in predicates)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _path(url: str) -> str:
    return httpx.URL(url).path
