"""The manifest contract, from the shared golden files in tests/golden/manifests.

The TypeScript parser is tested against the same files (tests/unit/engine/manifest.golden.test.ts),
so a manifest one side accepts and the other refuses fails a test on one side. Every example
is also checked against the JSON Schema in docs/manifest.schema.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from clue.errors import UserFacingError
from clue.manifest import manifest_from_dict, read_manifest, validate_manifest_dict

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN = REPO_ROOT / "tests" / "golden" / "manifests"
SCHEMA_PATH = REPO_ROOT / "docs" / "manifest.schema.json"
EXPECTED: dict[str, dict[str, Any]] = json.loads((GOLDEN / "invalid.expected.json").read_text(encoding="utf-8"))[
    "invalid"
]
VALID = sorted((GOLDEN / "valid").glob("*.json"))
INVALID = sorted((GOLDEN / "invalid").glob("*.json"))
# The manifests `clue export` / `clue demo-model` shipped: they must meet the schema as well.
SHIPPED = sorted((REPO_ROOT / "models" / "artifacts").glob("*/manifest.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    schema = load(SCHEMA_PATH)
    jsonschema.Draft202012Validator.check_schema(schema)  # the schema itself is well-formed
    return jsonschema.Draft202012Validator(schema)


def test_golden_files_and_expectations_match() -> None:
    # A file without an expectation (or the reverse) would be a case silently not tested.
    assert VALID and INVALID
    assert sorted(EXPECTED) == [path.name for path in INVALID]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_manifest_is_accepted(path: Path, schema_validator: jsonschema.protocols.Validator) -> None:
    data = load(path)
    assert validate_manifest_dict(data) == []
    manifest = read_manifest(path)  # the files themselves are not there: no verify_files
    # The dataclasses hold every field: writing them back gives the same JSON values
    # (224.0 == 224 in Python, as in JSON).
    assert manifest.to_json_dict() == data
    assert manifest_from_dict(manifest.to_json_dict()) == manifest
    schema_validator.validate(data)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_manifest_is_refused_with_its_reason(
    path: Path, schema_validator: jsonschema.protocols.Validator
) -> None:
    expected = EXPECTED[path.name]
    data = load(path)
    assert validate_manifest_dict(data) == [expected["problem"]]  # that rule, and only it
    with pytest.raises(UserFacingError, match="invalid manifest") as refused:
        read_manifest(path)
    assert expected["problem"] in str(refused.value)
    schema_errors = list(schema_validator.iter_errors(data))
    # Where the rule is beyond JSON Schema the schema must accept the file: the flag says
    # exactly where the parsers are stricter than the schema, and cannot go stale.
    assert bool(schema_errors) == expected["schema_refuses"], [error.message for error in schema_errors]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_manifest_meets_the_schema(path: Path, schema_validator: jsonschema.protocols.Validator) -> None:
    data = load(path)
    assert validate_manifest_dict(data) == []
    schema_validator.validate(data)


def test_integers_written_as_floats_are_stored_as_int() -> None:
    manifest = read_manifest(GOLDEN / "valid" / "integers-written-as-floats.json")
    assert load(GOLDEN / "valid" / "integers-written-as-floats.json")["opset"] == 17.0
    for value in (
        manifest.opset,
        manifest.files[0].bytes,
        manifest.preprocessing.size,
        manifest.preprocessing.channels,
    ):
        assert type(value) is int
    assert all(type(v) is int for v in manifest.input.shape)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(tmp_path: Path, literal: str) -> None:
    # Python's json reads these non-JSON literals; JSON.parse does not, so they cannot be golden
    # files. The viewer would never see such a manifest, and Python must not accept one either.
    text = (GOLDEN / "valid" / "minimal.json").read_text(encoding="utf-8")
    (tmp_path / "manifest.json").write_text(text.replace('"default": 0.5', f'"default": {literal}'), encoding="utf-8")
    with pytest.raises(UserFacingError, match=r"threshold\.default must be a number in \[0, 1\]"):
        read_manifest(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text(text.replace('"value": 0.0', f'"value": {literal}'), encoding="utf-8")
    with pytest.raises(UserFacingError, match="preprocessing.square must be"):
        read_manifest(tmp_path / "manifest.json")
