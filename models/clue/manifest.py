"""The model manifest (`manifest.json`): the one contract between `models/` and the viewer.

Its fields are specified in docs/manifest.md. `write_manifest` validates before writing
(temporary file + rename); `read_manifest` validates what it reads and rejects an unknown
`schema`, so a malformed manifest never reaches the viewer from our side.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from clue.atomic import write_text_atomic
from clue.errors import UserFacingError

SCHEMA = "clue-manifest/1"
OUTPUT_NAMES = ("anomaly_map", "layer_maps", "score")
FILE_DTYPES = ("float32", "float16", "int8")
# A variant's "quality" block (docs/manifest.md § Model variants): how the variant's maps and
# scores differ from the float32 file's on a validation set, measured by `clue export` /
# `clue variants` (models/clue/variants.py). The viewer reads it to decide whether a variant
# may replace float32 without being asked to.
QUALITY_FIELDS = ("versus", "eval_set", "slices", "pixel_auroc_delta", "image_auroc_delta", "max_abs_map_diff")
# CLIP's image normalisation (OpenAI), the default of every manifest. The one definition:
# clue.preprocess re-exports it (this module needs no torch, so it can be imported anywhere).
CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# "https://host/model.onnx" (or "C:…") is not inside the model folder: the viewer would fetch it
# from elsewhere.
_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
# The validated domain (optional "domain" block). Modality and body part are DICOM code strings
# (CS: upper case, digits, space, underscore; at most 16 characters) compared with the slice's
# Modality and BodyPartExamined. Sequences and planes are closed vocabularies: the viewer can
# tell only these from a slice's DICOM attributes, so a name outside them could never match.
DOMAIN_FIELDS = ("modality", "body_part", "sequences", "planes", "pixel_spacing_mm", "note")
DOMAIN_SEQUENCES = ("T1", "T1CE", "T2", "FLAIR", "PD", "DWI")
DOMAIN_PLANES = ("axial", "sagittal", "coronal")
_DICOM_CODE = re.compile(r"^[A-Z0-9_ ]{1,16}$")


@dataclass
class VariantQuality:
    """A variant measured against the float32 file on the same validation slices."""

    versus: str  # always "float32": the reference file
    eval_set: str  # the validation set's name (never held-out data)
    slices: int
    pixel_auroc_delta: float | None  # variant − float32; None: not computable (no abnormal pixels)
    image_auroc_delta: float | None  # variant − float32; None: one class only
    max_abs_map_diff: float  # largest |variant − float32| of the raw anomaly map (model grid)


@dataclass
class ModelFile:
    path: str  # relative to the manifest's folder
    dtype: str  # "float32" | "float16" | "int8": the viewer picks by dtype
    bytes: int
    sha256: str
    quality: VariantQuality | None = None  # variants only; None: not measured (key left out)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.quality is None:
            del data["quality"]
        return data


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str | None = None  # stated for the input only


INTENSITY_METHODS = ("percentile_clip",)
FOREGROUND_METHODS = ("greater_than_min",)
SQUARE_METHODS = ("center_pad",)
RESIZE_METHODS = ("bicubic_antialias",)
POSTPROCESSING_METHODS = ("bilinear_uncrop",)


@dataclass(frozen=True)
class PreprocessSpec:
    """The manifest's "preprocessing" block as a typed value (defaults = docs/manifest.md)."""

    low_percentile: float = 0.5
    high_percentile: float = 99.5
    foreground: str = "greater_than_min"
    pad_value: float = 0.0
    size: int = 224
    channels: int = 3
    mean: tuple[float, ...] = field(default=CLIP_MEAN)
    std: tuple[float, ...] = field(default=CLIP_STD)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "preprocessing spec") -> None:
        """Raise UserFacingError naming the field when a value cannot be used."""
        if not (0.0 <= self.low_percentile < self.high_percentile <= 100.0):
            raise UserFacingError(
                f"{source}: intensity percentiles must satisfy 0 <= low_percentile < "
                f"high_percentile <= 100, got {self.low_percentile} and {self.high_percentile}"
            )
        if self.foreground not in FOREGROUND_METHODS:
            raise UserFacingError(
                f"{source}: intensity.foreground {self.foreground!r} is not one of {list(FOREGROUND_METHODS)}"
            )
        if not math.isfinite(self.pad_value):
            raise UserFacingError(f"{source}: square.value must be a finite number")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise UserFacingError(f"{source}: resize.size must be a positive integer, got {self.size!r}")
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) or self.channels < 1:
            raise UserFacingError(f"{source}: channels must be a positive integer, got {self.channels!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise UserFacingError(
                f"{source}: normalize.mean and normalize.std need {self.channels} values each "
                f"(one per channel), got {len(self.mean)} and {len(self.std)}"
            )
        if not all(math.isfinite(m) for m in self.mean):
            raise UserFacingError(f"{source}: normalize.mean must be finite numbers")
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise UserFacingError(f"{source}: normalize.std must be positive finite numbers")

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's "preprocessing" block (JSON-ready, key order as in the doc)."""
        return {
            "intensity": {
                "method": "percentile_clip",
                "low_percentile": self.low_percentile,
                "high_percentile": self.high_percentile,
                "foreground": self.foreground,
            },
            "square": {"method": "center_pad", "value": self.pad_value},
            "resize": {"method": "bicubic_antialias", "size": self.size},
            "channels": self.channels,
            "normalize": {"mean": list(self.mean), "std": list(self.std)},
        }

    @classmethod
    def from_manifest(cls, block: Any, source: str = "manifest") -> PreprocessSpec:
        """Build from a manifest's "preprocessing" block; errors name `source` and the field."""
        where = f"{source}: preprocessing"
        if not isinstance(block, dict):
            raise UserFacingError(f"{where} must be an object")
        intensity = _section(block, "intensity", where)
        square = _section(block, "square", where)
        resize = _section(block, "resize", where)
        normalize = _section(block, "normalize", where)
        _expect_method(intensity, INTENSITY_METHODS, f"{where}.intensity")
        _expect_method(square, SQUARE_METHODS, f"{where}.square")
        _expect_method(resize, RESIZE_METHODS, f"{where}.resize")
        return cls(
            low_percentile=_number(intensity, "low_percentile", f"{where}.intensity"),
            high_percentile=_number(intensity, "high_percentile", f"{where}.intensity"),
            foreground=_string(intensity, "foreground", f"{where}.intensity"),
            pad_value=_number(square, "value", f"{where}.square"),
            size=_integer(resize, "size", f"{where}.resize"),
            channels=_integer(block, "channels", where),
            mean=_numbers(normalize, "mean", f"{where}.normalize"),
            std=_numbers(normalize, "std", f"{where}.normalize"),
        )


def _section(block: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = block.get(key)
    if not isinstance(value, dict):
        raise UserFacingError(f"{where}.{key} is missing or not an object")
    return value


def _expect_method(section: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    method = section.get("method")
    if method not in known:
        raise UserFacingError(f"{where}.method {method!r} is not supported (known: {list(known)})")


def _number(section: dict[str, Any], key: str, where: str) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserFacingError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _integer(section: dict[str, Any], key: str, where: str) -> int:
    value = section.get(key)
    if not _is_int(value):
        raise UserFacingError(f"{where}.{key} must be an integer, got {value!r}")
    return int(value)


def _string(section: dict[str, Any], key: str, where: str) -> str:
    value = section.get(key)
    if not isinstance(value, str):
        raise UserFacingError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _numbers(section: dict[str, Any], key: str, where: str) -> tuple[float, ...]:
    value = section.get(key)
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise UserFacingError(f"{where}.{key} must be a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


# The keys each "preprocessing" sub-block may hold (docs/manifest.md); anything else is refused.
PREPROCESSING_KEYS: dict[str, list[str]] = {
    "": ["intensity", "square", "resize", "channels", "normalize"],
    "intensity": ["method", "low_percentile", "high_percentile", "foreground"],
    "square": ["method", "value"],
    "resize": ["method", "size"],
    "normalize": ["mean", "std"],
}


@dataclass
class Postprocessing:
    to_slice_grid: str = "bilinear_uncrop"


@dataclass
class Threshold:
    default: float = 0.5
    chosen_on: str = "not chosen: default 0.5"


@dataclass
class Provenance:
    backbone: str
    backbone_sha256: str | None  # None for a randomly initialised backbone (no file)
    training_data: str
    commit: str | None  # None when the export did not run inside a git checkout
    created: str  # ISO 8601
    intended_use: str = "Research demonstration of anomaly maps on medical image slices."
    clinical_use: bool = False


@dataclass
class Domain:
    """Where the model was validated (docs/manifest.md § domain); the viewer cautions outside it.

    Only `modality` is required; a field left as None is not declared (and not checked).
    """

    modality: list[str]  # DICOM Modality codes, e.g. ["MR"]
    body_part: list[str] | None = None  # DICOM BodyPartExamined terms, e.g. ["BRAIN", "HEAD"]
    sequences: list[str] | None = None  # from DOMAIN_SEQUENCES (MR only), e.g. ["T1"]
    planes: list[str] | None = None  # from DOMAIN_PLANES
    pixel_spacing_mm: list[float] | None = None  # [min, max], both row and column spacing
    note: str | None = None  # free text shown with the domain in the panel

    def to_json_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class Manifest:
    id: str
    version: str
    files: list[ModelFile]
    opset: int
    input: TensorSpec
    outputs: dict[str, TensorSpec]
    layers: list[int]
    preprocessing: PreprocessSpec
    postprocessing: Postprocessing
    threshold: Threshold
    provenance: Provenance
    domain: Domain | None = None  # None: validated domain not declared (the key is left out)
    schema: str = SCHEMA

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_manifest()
        data["input"] = _tensor_dict(self.input)
        data["outputs"] = {key: _tensor_dict(spec) for key, spec in self.outputs.items()}
        data["files"] = [entry.to_json_dict() for entry in self.files]
        if self.domain is None:
            del data["domain"]
        else:
            data["domain"] = self.domain.to_json_dict()
        # "schema" first, as readers check it first.
        return {"schema": data.pop("schema"), **data}


def _tensor_dict(spec: TensorSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": spec.name, "shape": list(spec.shape)}
    if spec.dtype is not None:
        data["dtype"] = spec.dtype
    return data


def file_entry(path: Path, dtype: str, relative_to: Path) -> ModelFile:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return ModelFile(
        path=path.relative_to(relative_to).as_posix(),
        dtype=dtype,
        bytes=path.stat().st_size,
        sha256=digest.hexdigest(),
    )


# -- validation ------------------------------------------------------------------------------


class _Checker:
    """Collects every problem of a manifest dict so the error lists them all at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def need(self, condition: bool, message: str) -> bool:
        if not condition:
            self.problems.append(message)
        return condition

    def known(self, block: Any, where: str, known: list[str]) -> None:
        """Refuse fields this reader does not know: each would be a rule silently not followed
        (a preprocessing step, a domain limit); a new field needs a new schema version."""
        if isinstance(block, dict):
            unknown = [str(key) for key in block if key not in known]
            self.need(not unknown, f"{where} has unknown fields: {', '.join(unknown)} (known: {', '.join(known)})")


def _names(cls: Any) -> list[str]:
    """A block's known fields are those of the dataclass `manifest_from_dict` builds from it."""
    return [f.name for f in fields(cls)]


def _is_int(value: Any) -> bool:
    # JSON has one number type: 224.0 is the integer 224 (as for JSON Schema and for the
    # viewer, whose JSON.parse cannot tell them apart); manifest_from_dict stores it as int.
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    # json.loads reads NaN, Infinity and overflowing literals (1e400 → inf); the viewer
    # refuses them, and no manifest field has a meaning for them.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_shape(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(_is_int(v) and v > 0 for v in value)


def _is_code_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and len(set(map(str, value))) == len(value)
        and all(isinstance(v, str) and bool(_DICOM_CODE.match(v)) and v.strip() == v for v in value)
    )


def validate_domain_dict(domain: Any) -> list[str]:
    """Every problem of a "domain" block (empty list: valid), each naming its field."""
    check = _Checker()
    if not check.need(isinstance(domain, dict), "domain must be an object"):
        return check.problems
    unknown = [key for key in domain if key not in DOMAIN_FIELDS]
    check.need(
        not unknown, f"domain has unknown fields: {', '.join(map(str, unknown))} (known: {', '.join(DOMAIN_FIELDS)})"
    )
    if check.need("modality" in domain, "domain.modality is missing"):
        check.need(
            _is_code_list(domain["modality"]),
            'domain.modality must be a non-empty list of distinct DICOM Modality codes (e.g. ["MR"])',
        )
    if "body_part" in domain:
        check.need(
            _is_code_list(domain["body_part"]),
            'domain.body_part must be a non-empty list of distinct DICOM BodyPartExamined terms (e.g. ["BRAIN", "HEAD"])',
        )
    if "sequences" in domain:
        sequences = domain["sequences"]
        check.need(
            isinstance(sequences, list)
            and len(sequences) > 0
            and len(set(map(str, sequences))) == len(sequences)
            and all(v in DOMAIN_SEQUENCES for v in sequences),
            f"domain.sequences must be a non-empty list of distinct names from {', '.join(DOMAIN_SEQUENCES)}",
        )
        modality = domain.get("modality")
        check.need(
            not isinstance(modality, list) or "MR" in modality,
            'domain.sequences applies to MR only, but domain.modality does not list "MR"',
        )
    if "planes" in domain:
        planes = domain["planes"]
        check.need(
            isinstance(planes, list)
            and len(planes) > 0
            and len(set(map(str, planes))) == len(planes)
            and all(v in DOMAIN_PLANES for v in planes),
            f"domain.planes must be a non-empty list of distinct planes from {', '.join(DOMAIN_PLANES)}",
        )
    if "pixel_spacing_mm" in domain:
        spacing = domain["pixel_spacing_mm"]
        check.need(
            isinstance(spacing, list)
            and len(spacing) == 2
            and all(_is_number(v) and math.isfinite(v) and v > 0 for v in spacing)
            and spacing[0] <= spacing[1],
            "domain.pixel_spacing_mm must be [min, max]: two positive numbers of millimetres with min ≤ max",
        )
    if "note" in domain:
        check.need(isinstance(domain["note"], str), "domain.note must be a string")
    return check.problems


def _quality_problems(quality: Any, where: str, dtype: Any) -> list[str]:
    """Every problem of a file's "quality" block (same rules and words as manifest.ts)."""
    check = _Checker()
    if not check.need(isinstance(quality, dict), f"{where} must be an object"):
        return check.problems
    check.known(quality, where, list(QUALITY_FIELDS))
    check.need(dtype != "float32", f"{where}: a float32 file is the reference; quality is for the other variants only")
    check.need(quality.get("versus") == "float32", f'{where}.versus must be "float32"')
    check.need(
        isinstance(quality.get("eval_set"), str) and bool(quality["eval_set"]),
        f"{where}.eval_set must be a non-empty string",
    )
    check.need(_is_int(quality.get("slices")) and quality["slices"] >= 1, f"{where}.slices must be a positive integer")
    for key in ("pixel_auroc_delta", "image_auroc_delta"):
        value = quality.get(key, "missing")
        check.need(
            value is None or (_is_number(value) and math.isfinite(value) and -1.0 <= value <= 1.0),
            f"{where}.{key} must be a number in [-1, 1] or null",
        )
    diff = quality.get("max_abs_map_diff")
    check.need(_is_number(diff) and math.isfinite(diff) and diff >= 0, f"{where}.max_abs_map_diff must be a number ≥ 0")
    return check.problems


def _block(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def validate_manifest_dict(data: Any) -> list[str]:
    """Every problem found (empty list: valid)."""
    check = _Checker()
    if not check.need(isinstance(data, dict), "the manifest must be a JSON object"):
        return check.problems
    if not check.need(
        data.get("schema") == SCHEMA, f'schema must be "{SCHEMA}", found {json.dumps(data.get("schema"))}'
    ):
        return check.problems
    required = (
        "id",
        "version",
        "files",
        "opset",
        "input",
        "outputs",
        "layers",
        "preprocessing",
        "postprocessing",
        "threshold",
        "provenance",
    )
    missing = [key for key in required if key not in data]
    if not check.need(not missing, f"missing fields: {', '.join(missing)}"):
        return check.problems
    check.known(data, "manifest", _names(Manifest))
    check.need(isinstance(data["id"], str) and bool(data["id"]), "id must be a non-empty string")
    check.need(isinstance(data["version"], str) and bool(data["version"]), "version must be a non-empty string")
    check.need(_is_int(data["opset"]) and data["opset"] >= 1, "opset must be a positive integer")

    files = data["files"]
    if check.need(isinstance(files, list) and len(files) > 0, "files must be a non-empty list"):
        for index, entry in enumerate(files):
            where = f"files[{index}]"
            if not check.need(isinstance(entry, dict), f"{where} must be an object"):
                continue
            check.known(entry, where, _names(ModelFile))
            path = entry.get("path")
            check.need(
                isinstance(path, str)
                and bool(path)
                and not path.startswith("/")
                and not _URL_SCHEME.match(path)
                and ".." not in path.split("/"),
                f"{where}.path must be a relative path inside the model folder",
            )
            check.need(
                entry.get("dtype") in FILE_DTYPES,
                f"{where}.dtype must be {' or '.join(json.dumps(d) for d in FILE_DTYPES)}",
            )
            check.need(_is_int(entry.get("bytes")) and entry["bytes"] > 0, f"{where}.bytes must be a positive integer")
            check.need(
                isinstance(entry.get("sha256"), str) and bool(_SHA256.match(entry["sha256"])),
                f"{where}.sha256 must be 64 lowercase hex digits",
            )
            if "quality" in entry:  # optional: measured variants only
                check.problems.extend(_quality_problems(entry["quality"], f"{where}.quality", entry.get("dtype")))

    image_size = None
    spec = data["input"]
    if check.need(isinstance(spec, dict), "input must be an object"):
        check.known(spec, "input", _names(TensorSpec))
        check.need(spec.get("name") == "image", 'input.name must be "image"')
        check.need(spec.get("dtype") == "float32", 'input.dtype must be "float32"')
        shape = spec.get("shape")
        if check.need(
            _is_shape(shape) and len(shape) == 4 and shape[0] == 1 and shape[1] == 3 and shape[2] == shape[3],
            "input.shape must be [1, 3, S, S]",
        ):
            image_size = shape[2]

    layers = data["layers"]
    layers_ok = check.need(
        isinstance(layers, list) and len(layers) > 0 and all(_is_int(v) and v >= 1 for v in layers),
        "layers must be a non-empty list of 1-based block numbers",
    )
    outputs = data["outputs"]
    if check.need(isinstance(outputs, dict), "outputs must be an object"):
        check.known(outputs, "outputs", list(OUTPUT_NAMES))
        for key in OUTPUT_NAMES:
            entry = outputs.get(key)
            if not check.need(isinstance(entry, dict), f"outputs.{key} is missing"):
                continue
            # The graph's outputs are float32; a dtype is stated for the input only.
            check.known(entry, f"outputs.{key}", ["name", "shape"])
            check.need(
                isinstance(entry.get("name"), str) and bool(entry["name"]), f"outputs.{key}.name must be a string"
            )
            check.need(_is_shape(entry.get("shape")), f"outputs.{key}.shape must be a list of positive integers")
        if image_size is not None and all(isinstance(outputs.get(k), dict) for k in OUTPUT_NAMES):
            check.need(
                outputs["anomaly_map"].get("shape") == [1, image_size, image_size],
                f"outputs.anomaly_map.shape must be [1, {image_size}, {image_size}]",
            )
            if layers_ok:
                check.need(
                    outputs["layer_maps"].get("shape") == [1, len(layers), image_size, image_size],
                    f"outputs.layer_maps.shape must be [1, {len(layers)}, {image_size}, {image_size}] (one map per layer)",
                )
            check.need(outputs["score"].get("shape") == [1], "outputs.score.shape must be [1]")

    pre = data["preprocessing"]
    if check.need(isinstance(pre, dict), "preprocessing must be an object"):
        check.known(pre, "preprocessing", PREPROCESSING_KEYS[""])
        # A sub-block that is not an object is read as {} (as the viewer does): each of its
        # rules then names what is missing.
        intensity = _block(pre.get("intensity"))
        check.known(intensity, "preprocessing.intensity", PREPROCESSING_KEYS["intensity"])
        check.need(
            intensity.get("method") == "percentile_clip", 'preprocessing.intensity.method must be "percentile_clip"'
        )
        low, high = intensity.get("low_percentile"), intensity.get("high_percentile")
        check.need(
            _is_number(low) and _is_number(high) and 0 <= low < high <= 100,
            "preprocessing.intensity percentiles must satisfy 0 ≤ low_percentile < high_percentile ≤ 100",
        )
        check.need(
            intensity.get("foreground") == "greater_than_min",
            'preprocessing.intensity.foreground must be "greater_than_min"',
        )
        square = _block(pre.get("square"))
        check.known(square, "preprocessing.square", PREPROCESSING_KEYS["square"])
        check.need(
            square.get("method") == "center_pad" and _is_number(square.get("value")),
            'preprocessing.square must be {method: "center_pad", value: number}',
        )
        resize = _block(pre.get("resize"))
        check.known(resize, "preprocessing.resize", PREPROCESSING_KEYS["resize"])
        if check.need(
            resize.get("method") == "bicubic_antialias" and _is_int(resize.get("size")) and resize["size"] > 0,
            'preprocessing.resize must be {method: "bicubic_antialias", size: positive integer}',
        ):
            if image_size is not None:
                check.need(
                    resize["size"] == image_size, f"preprocessing.resize.size must equal the input size {image_size}"
                )
        check.need(pre.get("channels") == 3, "preprocessing.channels must be 3")
        normalize = _block(pre.get("normalize"))
        check.known(normalize, "preprocessing.normalize", PREPROCESSING_KEYS["normalize"])
        check.need(
            isinstance(normalize.get("mean"), list)
            and len(normalize["mean"]) == 3
            and all(_is_number(v) for v in normalize["mean"])
            and isinstance(normalize.get("std"), list)
            and len(normalize["std"]) == 3
            and all(_is_number(v) and v > 0 for v in normalize["std"]),
            "preprocessing.normalize must hold 3 means and 3 positive stds",
        )

    post = data["postprocessing"]
    check.known(post, "postprocessing", _names(Postprocessing))
    check.need(
        isinstance(post, dict) and post.get("to_slice_grid") == "bilinear_uncrop",
        'postprocessing.to_slice_grid must be "bilinear_uncrop"',
    )
    threshold = data["threshold"]
    if check.need(isinstance(threshold, dict), "threshold must be an object"):
        check.known(threshold, "threshold", _names(Threshold))
        check.need(
            _is_number(threshold.get("default")) and 0.0 <= threshold["default"] <= 1.0,
            "threshold.default must be a number in [0, 1]",
        )
        check.need(isinstance(threshold.get("chosen_on"), str), "threshold.chosen_on must be a string")
    provenance = data["provenance"]
    if check.need(isinstance(provenance, dict), "provenance must be an object"):
        check.known(provenance, "provenance", _names(Provenance))
        for key in ("backbone", "training_data", "created", "intended_use"):
            check.need(isinstance(provenance.get(key), str), f"provenance.{key} must be a string")
        sha = provenance.get("backbone_sha256")
        check.need(
            sha is None or (isinstance(sha, str) and bool(_SHA256.match(sha))),
            "provenance.backbone_sha256 must be 64 lowercase hex digits or null",
        )
        check.need(
            provenance.get("commit") is None or isinstance(provenance.get("commit"), str),
            "provenance.commit must be a string or null",
        )
        check.need(isinstance(provenance.get("clinical_use"), bool), "provenance.clinical_use must be true or false")
    if "domain" in data:  # optional: manifests written before it existed stay valid
        check.problems.extend(validate_domain_dict(data["domain"]))
    return check.problems


def manifest_from_dict(data: dict[str, Any]) -> Manifest:
    """Build the dataclasses from a *validated* dict."""
    pre = data["preprocessing"]
    return Manifest(
        schema=data["schema"],
        id=data["id"],
        version=data["version"],
        # int(): a validated integer may have been written as 224.0 (see _is_int).
        files=[_file_from_dict(entry) for entry in data["files"]],
        opset=int(data["opset"]),
        input=_tensor_from_dict(data["input"]),
        outputs={key: _tensor_from_dict(value) for key, value in data["outputs"].items()},
        layers=[int(v) for v in data["layers"]],
        preprocessing=PreprocessSpec.from_manifest(pre),
        postprocessing=Postprocessing(**data["postprocessing"]),
        threshold=Threshold(**data["threshold"]),
        provenance=Provenance(**data["provenance"]),
        domain=Domain(**data["domain"]) if "domain" in data else None,
    )


def _file_from_dict(entry: dict[str, Any]) -> ModelFile:
    quality = entry.get("quality")
    return ModelFile(
        path=entry["path"],
        dtype=entry["dtype"],
        bytes=int(entry["bytes"]),
        sha256=entry["sha256"],
        quality=None if quality is None else VariantQuality(**{**quality, "slices": int(quality["slices"])}),
    )


def _tensor_from_dict(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(name=data["name"], shape=[int(v) for v in data["shape"]], dtype=data.get("dtype"))


def write_manifest(manifest: Manifest, path: str | Path) -> Path:
    """Validate, then write atomically (temporary file + rename)."""
    path = Path(path)
    data = manifest.to_json_dict()
    problems = validate_manifest_dict(data)
    if problems:
        raise ValueError("refusing to write an invalid manifest: " + "; ".join(problems))
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_manifest(path: str | Path, verify_files: bool = False) -> Manifest:
    """Read and validate; with `verify_files`, also check each model file's size and sha256."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UserFacingError(f"{path}: manifest does not exist") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserFacingError(f"{path}: not valid JSON ({error})") from error
    problems = validate_manifest_dict(data)
    if problems:
        raise UserFacingError(f"{path}: invalid manifest: {'; '.join(problems)}")
    manifest = manifest_from_dict(data)
    if verify_files:
        for entry in manifest.files:
            actual = (
                file_entry(path.parent / entry.path, entry.dtype, path.parent)
                if (path.parent / entry.path).is_file()
                else None
            )
            if actual is None:
                raise UserFacingError(f"{path}: listed model file {entry.path} does not exist")
            if actual.bytes != entry.bytes or actual.sha256 != entry.sha256:
                raise UserFacingError(f"{path}: {entry.path} does not match its size/sha256 in the manifest")
    return manifest
