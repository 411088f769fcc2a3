"""Envelope detection and unwrapping: each cloud's shape yields the commercetools payload."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ctsync.errors import InputError
from ctsync.ingress import Unwrapped, parse_ct_payload, unwrap
from ctsync.ingress._envelopes import SOURCES, detect
from tests import envelopes, payloads

JSON = {"content-type": "application/json"}


def only_item(result: Unwrapped) -> Any:
    [item] = result.items
    assert item.error is None, item.error
    return item


def test_the_platform_format_posted_directly_is_not_a_cloud() -> None:
    body = payloads.created()
    result = unwrap(body, JSON)
    assert only_item(result).payload == body
    assert (result.cloud, result.batch, only_item(result).envelope) == (False, False, "direct")


def test_pubsub_push_decodes_base64_data_and_keeps_the_message_id() -> None:
    body = payloads.created()
    result = unwrap(envelopes.pubsub(body, message_id="123456"), JSON)
    item = only_item(result)
    assert (item.envelope, item.payload, item.delivery_id) == ("pubsub", body, "123456")
    assert result.cloud


def test_pubsub_unwrapped_push_is_recognised_by_its_metadata_headers() -> None:
    body = payloads.created()
    headers = {**JSON, "x-goog-pubsub-message-id": "77", "x-goog-pubsub-subscription-name": "s"}
    item = only_item(unwrap(body, headers))
    assert (item.envelope, item.payload, item.delivery_id) == ("pubsub", body, "77")


@pytest.mark.parametrize("source", ["pubsub", "sns", "eventbridge"])
def test_a_bare_payload_posted_to_a_cloud_route_is_that_clouds_raw_delivery(source: str) -> None:
    body = payloads.created()
    result = unwrap(body, JSON, source=source)
    assert (only_item(result).envelope, result.cloud) == (source, True)


def test_unusable_pubsub_data_is_an_item_error_not_an_exception() -> None:
    result = unwrap(envelopes.pubsub(None, raw=b"\xff not json"), JSON)
    [item] = result.items
    assert result.cloud
    assert "UTF-8" in (item.error or "")
    broken = envelopes.pubsub({})
    broken["message"]["data"] = "***"
    assert "base64" in (unwrap(broken, JSON).items[0].error or "")


def test_sns_notification_carries_the_message_and_its_message_id() -> None:
    body = payloads.created()
    sns = envelopes.sns(body)
    item = only_item(unwrap(sns, envelopes.SNS_HEADERS))
    assert (item.envelope, item.payload, item.delivery_id) == ("sns", body, sns["MessageId"])


def test_sns_is_recognised_by_shape_without_its_headers() -> None:
    assert detect(envelopes.sns({}), JSON) == "sns"


def test_sns_raw_delivery_body_is_the_message() -> None:
    body = payloads.created()
    headers = {
        **envelopes.SNS_HEADERS,
        "x-amz-sns-rawdelivery": "true",
        "x-amz-sns-message-id": "m-1",
    }
    item = only_item(unwrap(body, headers))
    assert (item.envelope, item.payload, item.delivery_id) == ("sns", body, "m-1")


def test_sns_handshakes() -> None:
    confirm = unwrap(envelopes.sns_confirmation("https://sns.x.amazonaws.com/?A=1"), {})
    assert confirm.confirm_url == "https://sns.x.amazonaws.com/?A=1"
    assert confirm.items == []
    bye = unwrap(envelopes.sns_confirmation("u", "UnsubscribeConfirmation"), {})
    assert bye.reply == {"status": "unsubscribed"}


def test_an_sns_message_that_is_not_json_is_an_item_error() -> None:
    [item] = unwrap(envelopes.sns({}, message="hello"), envelopes.SNS_HEADERS).items
    assert item.error is not None
    assert item.payload == "hello"


def test_an_unknown_sns_type_is_malformed() -> None:
    with pytest.raises(InputError, match="SNS message Type"):
        unwrap({"Type": "Nonsense", "TopicArn": "a"}, envelopes.SNS_HEADERS)


def test_structured_cloudevent_data_is_the_platform_payload() -> None:
    body = payloads.created()
    event = envelopes.cloudevent(body, event_id="ce-1")
    result = unwrap(event, {"content-type": "application/cloudevents+json"})
    item = only_item(result)
    assert (item.envelope, item.payload, item.delivery_id) == ("cloudevents", body, "ce-1")
    assert result.cloud


def test_a_cloudevent_without_notification_type_gets_it_from_its_type() -> None:
    message = envelopes.cloudevent(payloads.created())
    del message["data"]["notificationType"]
    assert only_item(unwrap(message, {})).payload["notificationType"] == "Message"
    event = envelopes.cloudevent(payloads.change("ResourceUpdated"))
    del event["data"]["notificationType"]
    assert only_item(unwrap(event, {})).payload["notificationType"] == "ResourceUpdated"
    parse_ct_payload(only_item(unwrap(event, {})).payload)


def test_cloudevent_data_base64_is_decoded() -> None:
    body = payloads.created()
    event = envelopes.cloudevent(body)
    del event["data"]
    event["data_base64"] = base64.b64encode(json.dumps(body).encode()).decode()
    assert only_item(unwrap(event, {})).payload == body


def test_cloudevents_batch_is_split_and_each_event_validated_by_the_sdk() -> None:
    good = envelopes.cloudevent(payloads.created())
    missing_source = {
        k: v for k, v in envelopes.cloudevent(payloads.created("c-2")).items() if k != "source"
    }
    result = unwrap(
        [good, missing_source, 7], {"content-type": "application/cloudevents-batch+json"}
    )
    assert (result.batch, result.cloud) == (True, True)
    first, second, third = result.items
    assert first.error is None
    assert "source" in (second.error or "")
    assert second.delivery_id == missing_source["id"]
    assert third.error is not None


def test_binary_mode_reads_the_ce_headers_through_the_sdk() -> None:
    body = payloads.created()
    event = envelopes.cloudevent(body, event_id="bin-1")
    item = only_item(unwrap(body, envelopes.binary_headers(event)))
    assert (item.envelope, item.payload, item.delivery_id) == ("cloudevents", body, "bin-1")
    headers = envelopes.binary_headers(event)
    headers["ce-time"] = "yesterday"
    [bad] = unwrap(body, headers).items
    assert "invalid CloudEvent" in (bad.error or "")


def test_a_cloudevent_inside_pubsub_or_sns_is_unwrapped_too() -> None:
    body = payloads.created()
    event = envelopes.cloudevent(body)
    via_pubsub = only_item(unwrap(envelopes.pubsub(event, message_id="p-1"), JSON))
    assert (via_pubsub.envelope, via_pubsub.payload, via_pubsub.delivery_id) == (
        "pubsub",
        body,
        "p-1",
    )
    via_sns = only_item(unwrap(envelopes.sns(event), envelopes.SNS_HEADERS))
    assert via_sns.payload == body


def test_event_grid_array_is_a_batch_of_its_data() -> None:
    one, two = payloads.created(), payloads.created("c-2")
    grid = envelopes.eventgrid(one, two)
    result = unwrap(grid, {**JSON, "aeg-event-type": "Notification"})
    assert (result.batch, result.cloud) == (True, True)
    assert [i.payload for i in result.items] == [one, two]
    assert [i.delivery_id for i in result.items] == [e["id"] for e in grid]
    assert unwrap(grid, JSON).items[0].payload == one  # recognised by shape as well


def test_event_grid_validation_handshake() -> None:
    result = unwrap(
        envelopes.eventgrid_validation("512d38b6-c7b8-40c8-89fe-f46f9e9622b6"),
        {"aeg-event-type": "SubscriptionValidation"},
    )
    assert result.reply == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    bad = envelopes.eventgrid_validation("x")
    bad[0]["data"] = {}
    with pytest.raises(InputError, match="validationCode"):
        unwrap(bad, {})


def test_event_grid_system_events_are_not_commercetools_events() -> None:
    [grid] = envelopes.eventgrid(payloads.created())
    grid["eventType"] = "Microsoft.EventGrid.SubscriptionDeletedEvent"
    [item] = unwrap([grid], JSON).items
    assert "not a commercetools event" in (item.error or "")


def test_eventbridge_detail_is_the_payload_and_its_id_the_delivery_id() -> None:
    body = payloads.created()
    event = envelopes.eventbridge(body, event_id="eb-1")
    item = only_item(unwrap(event, JSON))
    assert (item.envelope, item.payload, item.delivery_id) == ("eventbridge", body, "eb-1")


@pytest.mark.parametrize(
    ("data", "headers", "needle"),
    [
        ([1, 2], JSON, "array"),
        ("text", JSON, "object"),
        ({"a": 1}, {"content-type": "application/cloudevents-batch+json"}, "array"),
        ([{"specversion": "1.0"}] * 5001, JSON, "at most"),
    ],
)
def test_malformed_envelopes_are_input_errors(
    data: Any, headers: dict[str, str], needle: str
) -> None:
    with pytest.raises(InputError, match=needle):
        unwrap(data, headers)


def test_the_same_message_via_any_envelope_has_the_same_dedupe_key() -> None:
    body = payloads.created()
    ways = [
        unwrap(body, JSON),
        unwrap(envelopes.pubsub(body), JSON),
        unwrap(envelopes.sns(body), envelopes.SNS_HEADERS),
        unwrap(envelopes.cloudevent(body), {}),
        unwrap(envelopes.eventgrid(body), JSON),
        unwrap(envelopes.eventbridge(body), JSON),
    ]
    keys = {parse_ct_payload(only_item(w).payload).dedupe_key for w in ways}
    assert keys == {f"msg:{body['projectKey']}:{body['id']}"}


def test_sources_are_the_clouds() -> None:
    assert set(SOURCES) == {"pubsub", "sns", "eventgrid", "cloudevents", "eventbridge"}


@pytest.mark.parametrize("junk", [{}, [], 1.5, None])
def test_an_sns_type_of_any_json_value_is_never_a_crash(junk: Any) -> None:
    body = {**envelopes.sns(payloads.created()), "Type": junk}
    raw = {**envelopes.SNS_HEADERS, "x-amz-sns-rawdelivery": "true"}
    assert unwrap(body, raw).items[0].envelope == "sns"  # not an envelope: the raw payload
    with pytest.raises(InputError, match="SNS message Type"):
        unwrap(body, envelopes.SNS_HEADERS)
    assert detect(body, JSON) != "sns"


def test_only_a_short_printable_string_is_a_delivery_id() -> None:
    body = payloads.created()
    for junk in ["", "x" * 300, "line\nbreak", "\x1b[31mred", 42, None]:
        push = envelopes.pubsub(body)
        push["message"]["messageId"] = push["message"]["message_id"] = junk
        assert only_item(unwrap(push, JSON)).delivery_id is None


def test_a_message_with_a_customer_and_a_non_string_type_is_a_clear_input_error() -> None:
    body = payloads.created()
    body["type"] = [None, None]  # hypothesis found a 500 here (an unhashable list)
    with pytest.raises(InputError):
        parse_ct_payload(body, envelope="direct")
