"""The mapping file: the built-in one is today's rules; bad files are refused with key and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ctsync.config import Settings
from ctsync.ingress import parse_ct_payload
from ctsync.mapping import MappingOptions, Plan, plan_event
from ctsync.mapping.file import MappingFileError, default_mapping_text, load_mapping, parse_mapping
from tests.helpers import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("0*.json"))


def _story(options: MappingOptions) -> list[str]:
    """The examples as one customer's story, planned in turn: every plan as JSON text."""
    state = None
    out = []
    for path in EXAMPLES:
        event = parse_ct_payload(json.loads(path.read_text()))
        plan = plan_event(event, state, options)
        state = plan.state or state
        out.append(_text(plan))
    return out


def _text(plan: Plan) -> str:
    body = [m.body for m in plan.messages]
    return json.dumps([plan.status, plan.reason, body], ensure_ascii=False)


def test_the_built_in_file_is_the_built_in_options() -> None:
    assert load_mapping(None) == MappingOptions()
    assert parse_mapping(default_mapping_text(), "x") == MappingOptions()


@pytest.mark.parametrize("identity", ["email", "customer_id"])
def test_the_built_in_file_sends_byte_for_byte_what_the_code_does(
    identity: str, tmp_path: Path
) -> None:
    text = default_mapping_text().replace("identity: email", f"identity: {identity}")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    loaded = load_mapping(path)
    assert _story(loaded) == _story(MappingOptions(identity=identity))  # type: ignore[arg-type]
    assert any('"identify"' in plan for plan in _story(loaded))


def _with(**sections: str) -> str:
    """The built-in file with some top-level sections replaced by ``sections``' YAML."""
    lines = default_mapping_text().splitlines()
    kept: list[str] = []
    skipping = False
    for line in lines:
        top = line.split(":", 1)[0] if line and not line[0].isspace() else None
        if top is not None and not line.startswith("#"):
            skipping = top in sections
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n" + "\n".join(sections.values()) + "\n"


BAD = [
    pytest.param("version: 1\nidentity: mail\n", "identity (line 2)", id="identity"),
    pytest.param("identity: email\n", "version (line 1): Field required", id="no-version"),
    pytest.param("version: ''\n", "version (line 1)", id="empty-version"),
    pytest.param(
        "version: 1\ntraits:\n  tier: {jmespath: 'custom.fields.[['}\n",
        "traits.tier.jmespath (line 3): not a JMESPath expression",
        id="jmespath",
    ),
    pytest.param(
        "version: 1\ntraits:\n  a: {builtin: email}\n  b: {builtin: shoeSize}\n",
        "traits.b.builtin (line 4)",
        id="unknown-builtin",
    ),
    pytest.param(
        "version: 1\ntraits:\n  a: {builtin: email, jmespath: x}\n",
        "traits.a (line 3): give exactly one of 'builtin' or 'jmespath'",
        id="two-sources",
    ),
    pytest.param(
        "version: 1\naddress:\n  choose: [defaultBilling, nowhere]\n",
        "address.choose (line 3): 'nowhere'",
        id="address-rule",
    ),
    pytest.param(
        "version: 1\nphone:\n  default_region: Germany\n",
        "phone.default_region (line 3)",
        id="region",
    ),
    pytest.param(
        "version: 1\nmessages:\n  CustomerCreated: identify\n  OrderPaid: ignore\n",
        "messages.OrderPaid (line 4): unknown message type",
        id="unknown-type",
    ),
    pytest.param(
        "version: 1\nmessages:\n  CustomerDeleted: {track: ''}\n",
        "messages.CustomerDeleted (line 3): must be {track: <event name>}",
        id="empty-event",
    ),
    pytest.param(
        "version: 1\nmessages:\n  OrderStateChanged: {track: Order Cancelled}\n",
        "messages.OrderStateChanged (line 3): must be {track: {<new state>",
        id="state-event-not-per-state",
    ),
    pytest.param(
        "version: 1\nmessages:\n  CustomerFirstNameSet: track\n",
        "messages.CustomerFirstNameSet (line 3): must be 'identify' or 'ignore'",
        id="identify-type-as-track",
    ),
    pytest.param("version: 1\n\ncolour: blue\n", "colour (line 3): Extra inputs", id="extra"),
    pytest.param("version: 1\nversion: 2\n", "duplicate key", id="duplicate-key"),
    pytest.param("version: [1\n", "not valid YAML", id="syntax"),
    pytest.param("- version\n", "must be a YAML map", id="not-a-map"),
    pytest.param("", "must be a YAML map", id="empty"),
    pytest.param("version: " + "[" * 5000 + "]" * 5000, "nested too deeply", id="deep"),
]


@pytest.mark.parametrize(("text", "says"), BAD)
def test_bad_files_are_refused_naming_key_and_line(text: str, says: str) -> None:
    with pytest.raises(MappingFileError) as caught:
        parse_mapping(text, "m.yaml")
    assert says in str(caught.value)
    assert "m.yaml" in str(caught.value)


def test_every_problem_is_listed_in_line_order() -> None:
    text = "version: 1\nidentity: mail\nphone:\n  default_region: x\ncolour: 1\n"
    with pytest.raises(MappingFileError) as caught:
        parse_mapping(text, "m.yaml")
    lines = [p.split("(line ")[1].split(")")[0] for p in caught.value.problems]
    assert lines == ["2", "4", "5"]


def test_a_bad_file_stops_settings(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nidentity: mail\n")
    with pytest.raises(ValidationError, match=r"identity \(line 2\)"):
        Settings(CTSYNC_MAPPING=str(path))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="cannot read it"):
        Settings(CTSYNC_MAPPING=str(tmp_path / "missing.yaml"))  # type: ignore[call-arg]


def test_a_partial_file_keeps_the_defaults_of_what_it_leaves_out() -> None:
    options = parse_mapping("version: shop-7\nidentity: customer_id\n", "m.yaml")
    assert options == MappingOptions(identity="customer_id", version="shop-7")


def test_messages_override_per_type() -> None:
    text = _with(
        messages=(
            "messages:\n  CustomerDeleted: {track: Account Closed}\n  OrderImported: ignore\n"
            "  OrderPaymentStateChanged:\n    track: {Paid: Order Paid}\n"
        )
    )
    options = parse_mapping(text, "m.yaml")
    assert options.deleted_event == "Account Closed"
    assert options.order_events == (("OrderCreated", "Order Completed"),)
    assert options.state_events == (
        ("OrderStateChanged", "Cancelled", "Order Cancelled"),
        ("OrderPaymentStateChanged", "Paid", "Order Paid"),
    )


def _options(**sections: str) -> MappingOptions:
    return parse_mapping(_with(**sections), "m.yaml")


def test_sections_replace_the_defaults() -> None:
    options = _options(
        traits="traits:\n  mail: {builtin: email}\n  tier: {jmespath: custom.fields.tier}\n",
        address="address:\n  choose: ['key:home', first]\n",
        phone="phone:\n  default_region: DE\n",
    )
    assert [(t.name, t.builtin, t.expression) for t in options.traits] == [
        ("mail", "email", None),
        ("tier", None, "custom.fields.tier"),
    ]
    assert options.address_choice == ("key:home", "first")
    assert options.phone_region == "DE"
