"""Anomaly families drawn into a 2-D slice: what "departs from normal brain" for training and
testing, beyond our one tumour model.

Each family draws its geometry from `rng` (so the same seed gives the same lesion whatever
the contrast) and its appearance from `looks` (a separate stream, which the rendering
owns), and returns an `Anomaly`: a soft occupancy `alpha` in [0, 1] and the image with the
anomaly mixed in. The ground truth is where the anomaly is *visible*: `alpha ≥ 0.5` and the
intensity changed by at least `VISIBLE_CHANGE` of the brain's intensity range (the field's
pitfall: near-invisible changes make noisy labels).

Training families (`TRAINING_FAMILIES`):

| family       | what                                                                          |
|--------------|-------------------------------------------------------------------------------|
| `tumour`     | our tumour model in 2-D: noisy core (+ necrotic centre) in oedema, mass effect |
| `blob`       | one random-shape smooth blob, brighter or darker than the tissue               |
| `perlin`     | DRAEM-style noise-shaped mask with an intensity shift or another region's texture |
| `cutpaste`   | a patch of brain from elsewhere (same slice or another brain), blended (FPI)   |
| `multifocal` | several small lesions, mostly in white matter (MS-like)                        |

Held out (`HELD_OUT_FAMILIES`) — generated for test splits only, never for training or
validation, by construction (`check_families`):

| `infarct`    | a stroke-like wedge: a vascular-territory sector reaching the cortex, grey and white matter only, intensity pulled toward fluid (T1 dark, T2/FLAIR bright) |

Intensities. With `levels="t1"`, `"t2"`, `"flair"` a family uses the textbook relative
levels of that contrast (white matter = 1000, `clue.synth.contrasts`); with
`levels="random"` (domain randomisation) it draws any level that differs visibly from the
tissue it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from clue.errors import UserFacingError
from clue.synth.anatomy import CSF, GREY_MATTER, WHITE_MATTER
from clue.synth.contrasts import CONTRAST_LEVELS, WHITE_MATTER_UNITS

TRAINING_FAMILIES: tuple[str, ...] = ("tumour", "blob", "perlin", "cutpaste", "multifocal")
HELD_OUT_FAMILIES: tuple[str, ...] = ("infarct",)
FAMILIES: tuple[str, ...] = TRAINING_FAMILIES + HELD_OUT_FAMILIES
VISIBLE_CHANGE = 0.06  # of the brain's 1st–99th percentile range


def check_families(families: Sequence[str], split: str) -> list[str]:
    """The families as a list; a held-out family for a training or validation split is an error."""
    names = [f.lower() for f in families]
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise UserFacingError(f"anomaly families {unknown} are not known; choose from {', '.join(FAMILIES)}")
    held = [f for f in names if f in HELD_OUT_FAMILIES]
    if held and split != "test":
        raise UserFacingError(
            f"anomaly family {', '.join(held)} is held out: it is generated for the test split only, "
            f"never for {split!r} (training or choices)"
        )
    return names


@dataclass
class SliceContext:
    """What a family may look at: the clean rendered slice and its anatomy."""

    image: np.ndarray  # float32 [H, W], rendered, WM ≈ 1000 (or the randomised equivalent)
    tissue: np.ndarray  # uint8 [H, W] labels (clue.synth.brains)
    brain: np.ndarray  # bool [H, W]
    levels: str  # "t1" | "t2" | "flair" | "random"
    donor: np.ndarray | None = None  # another rendered slice (same size) for foreign patches


@dataclass
class Anomaly:
    family: str
    alpha: np.ndarray  # float32 [H, W] soft occupancy
    image: np.ndarray  # float32 [H, W] the slice with the anomaly
    centre: tuple[float, float]
    radius: float  # px, a rough size (for mass effect and reports)


def visible_mask(before: np.ndarray, after: np.ndarray, alpha: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """The ground truth: occupied (alpha ≥ 0.5) where the change is visible."""
    values = before[brain] if brain.any() else before.ravel()
    low, high = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
    change = np.abs(after - before) >= VISIBLE_CHANGE * max(float(high - low), 1e-6)
    return ((alpha >= 0.5) & change).astype(np.uint8)


# -- shapes ------------------------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return field / (float(field.std()) or 1.0)


def perlin_like(rng: np.random.Generator, shape: tuple[int, int], octaves: int = 3) -> np.ndarray:
    """Multi-octave smooth noise (unit std): the shapes of DRAEM's Perlin masks."""
    total = np.zeros(shape, np.float32)
    for octave in range(octaves):
        total += smooth_noise(rng, shape, sigma=2.0 * 2 ** (octaves - octave)) * 0.6**octave
    return total / (float(total.std()) or 1.0)


def noisy_disc(
    shape: tuple[int, int],
    centre: tuple[float, float],
    radii: tuple[float, float],
    angle: float,
    roughness: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Soft occupancy of an ellipse whose border is pushed in and out by smooth noise."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dy, dx = rows - centre[0], cols - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = (dx * cos + dy * sin) / radii[0], (-dx * sin + dy * cos) / radii[1]
    radius = np.sqrt(u * u + v * v)
    wobble = 1.0 + roughness * smooth_noise(rng, shape, sigma=max(2.0, min(radii) / 2))
    edge = 1.0 / max(min(radii), 1.0)  # ~one pixel wide partial-volume edge
    return np.clip((wobble - radius) / (2 * edge) + 0.5, 0.0, 1.0).astype(np.float32)


def pick_centre(rng: np.random.Generator, allowed: np.ndarray) -> tuple[float, float] | None:
    points = np.argwhere(allowed)
    if len(points) == 0:
        return None
    row, col = points[rng.integers(len(points))]
    return float(row), float(col)


def deep_tissue(context: SliceContext, margin: float) -> np.ndarray:
    tissue = (context.tissue == GREY_MATTER) | (context.tissue == WHITE_MATTER)
    depth = ndimage.distance_transform_edt(context.brain)
    return tissue & (depth >= margin)


# -- appearance ----------------------------------------------------------------------------------


def local_reference(context: SliceContext, alpha: np.ndarray) -> float:
    """The median brain intensity under the anomaly (what it departs from)."""
    inside = (alpha > 0.5) & context.brain
    values = context.image[inside] if inside.any() else context.image[context.brain]
    return float(np.median(values)) if values.size else float(WHITE_MATTER_UNITS)


def random_level(looks: np.random.Generator, reference: float, span: float) -> float:
    """A level that differs from `reference` by 20–80 % of `span`, up or down (domain randomisation)."""
    sign = 1.0 if looks.random() < 0.5 else -1.0
    level = reference + sign * looks.uniform(0.2, 0.8) * span
    return float(max(level, 0.0))


def departing_level(
    looks: np.random.Generator, context: SliceContext, reference: float, shift: tuple[float, float]
) -> float:
    """A level away from `reference`: any visible one under domain randomisation, else brighter
    or darker by a fraction within `shift`, whatever the contrast."""
    if context.levels == "random":
        return random_level(looks, reference, brain_span(context))
    sign = 1 if looks.random() < 0.5 else -1
    return reference * (1.0 + sign * looks.uniform(*shift))


def brain_span(context: SliceContext) -> float:
    values = context.image[context.brain]
    if values.size == 0:
        return float(WHITE_MATTER_UNITS)
    low, high = np.percentile(values, [1, 99])
    return max(float(high - low), 1.0)


def mix(image: np.ndarray, alpha: np.ndarray, target: np.ndarray | float) -> np.ndarray:
    return (image + alpha * (target - image)).astype(np.float32)


# -- families ------------------------------------------------------------------------------------


def tumour(rng: np.random.Generator, looks: np.random.Generator, context: SliceContext) -> Anomaly | None:
    shape = context.image.shape
    core_radius = rng.uniform(3.0, 14.0)
    centre = pick_centre(rng, deep_tissue(context, core_radius * 0.8))
    if centre is None:
        return None
    angle = rng.uniform(0, np.pi)
    core_radii = (core_radius, core_radius * rng.uniform(0.6, 1.0))
    core = noisy_disc(shape, centre, core_radii, angle, rng.uniform(0.05, 0.3), rng)
    margin = rng.uniform(2.0, 12.0)
    oedema_outer = noisy_disc(
        shape, centre, (core_radii[0] + margin, core_radii[1] + margin), angle, rng.uniform(0.1, 0.4), rng
    )
    necrosis = np.zeros(shape, np.float32)
    if rng.random() < 0.6:
        fraction = rng.uniform(0.3, 0.6)
        necrosis = (
            noisy_disc(shape, centre, (core_radii[0] * fraction, core_radii[1] * fraction), angle, 0.1, rng) * core
        )
    brain = context.brain.astype(np.float32)
    oedema = np.clip(oedema_outer - core, 0.0, 1.0) * brain
    core, necrosis = core * brain, necrosis * brain
    texture = smooth_noise(rng, shape, 2.0)
    span = brain_span(context)
    if context.levels == "random":
        reference = local_reference(context, core)
        core_level = random_level(looks, reference, span)
        necrosis_level = random_level(looks, reference, span)
        oedema_level = random_level(looks, reference, span)
        oedema_strength = looks.uniform(0.5, 1.0)
    else:
        levels = CONTRAST_LEVELS[context.levels]
        low, high = levels.core_range
        core_level = (low + looks.random() * (high - low)) * WHITE_MATTER_UNITS
        necrosis_level = levels.necrosis * WHITE_MATTER_UNITS
        oedema_level = levels.oedema * WHITE_MATTER_UNITS
        oedema_strength = looks.uniform(0.5, 1.0)
    out = mix(context.image, oedema * oedema_strength, oedema_level)
    out = mix(out, core, core_level * (1.0 + 0.08 * texture))
    out = mix(out, necrosis, necrosis_level)
    alpha = np.maximum(core, oedema)
    return Anomaly("tumour", alpha, out, centre, core_radius + margin)


def blob(rng: np.random.Generator, looks: np.random.Generator, context: SliceContext) -> Anomaly | None:
    shape = context.image.shape
    radius = rng.uniform(3.0, 20.0)
    centre = pick_centre(rng, deep_tissue(context, radius * 0.5))
    if centre is None:
        return None
    radii = (radius, radius * rng.uniform(0.4, 1.0))
    alpha = noisy_disc(shape, centre, radii, rng.uniform(0, np.pi), rng.uniform(0.1, 0.5), rng) * context.brain
    level = departing_level(looks, context, local_reference(context, alpha), (0.25, 0.7))
    texture = smooth_noise(rng, shape, 1.5) * looks.uniform(0.0, 0.1)
    return Anomaly("blob", alpha, mix(context.image, alpha, level * (1.0 + texture)), centre, radius)


def perlin(rng: np.random.Generator, looks: np.random.Generator, context: SliceContext) -> Anomaly | None:
    shape = context.image.shape
    radius = rng.uniform(8.0, 28.0)
    centre = pick_centre(rng, deep_tissue(context, 3.0))
    if centre is None:
        return None
    window = noisy_disc(shape, centre, (radius, radius * rng.uniform(0.5, 1.0)), rng.uniform(0, np.pi), 0.3, rng)
    noise = perlin_like(rng, shape)
    cut = rng.uniform(0.3, 1.0)
    alpha = np.clip((noise - cut) * 3.0, 0.0, 1.0) * window * context.brain
    if float((alpha > 0.5).sum()) < 12:
        return None
    strength = looks.uniform(0.5, 1.0)
    if looks.random() < 0.5:
        # texture from another part of the slice (or the donor), shifted by a random offset
        source = context.donor if context.donor is not None and looks.random() < 0.5 else context.image
        shift = (int(looks.integers(-40, 41)), int(looks.integers(-40, 41)))
        target = np.roll(source, shift, axis=(0, 1))
        target = np.where(target > 0, target, local_reference(context, alpha))
    else:
        target = departing_level(looks, context, local_reference(context, alpha), (0.25, 0.6))
    return Anomaly("perlin", alpha, mix(context.image, alpha * strength, target), centre, radius)


def cutpaste(rng: np.random.Generator, looks: np.random.Generator, context: SliceContext) -> Anomaly | None:
    shape = context.image.shape
    height = rng.uniform(8.0, 36.0)
    width = float(np.clip(height * np.exp(rng.uniform(np.log(0.4), np.log(2.5))), 6.0, 48.0))
    margin = max(height, width) / 2
    inside = deep_tissue(context, 2.0)
    centre = pick_centre(rng, inside)
    if centre is None:
        return None
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    box = ((np.abs(rows - centre[0]) <= height / 2) & (np.abs(cols - centre[1]) <= width / 2)).astype(np.float32)
    box = ndimage.gaussian_filter(box, 1.0) * context.brain
    use_donor = context.donor is not None and looks.random() < 0.5
    source = context.donor if use_donor else context.image
    # a source position at least one patch away (same slice) so the patch shows other anatomy
    for _ in range(20):
        source_centre = pick_centre(rng, source > 0) if use_donor else pick_centre(rng, inside)
        if source_centre is None:
            return None
        if use_donor or max(abs(source_centre[0] - centre[0]), abs(source_centre[1] - centre[1])) > margin:
            break
    shift = (int(round(centre[0] - source_centre[0])), int(round(centre[1] - source_centre[1])))
    moved = np.roll(source, shift, axis=(0, 1))
    if looks.random() < 0.5:  # NSA: rescale the patch's intensity a little as well
        moved = moved * looks.uniform(0.75, 1.3)
    blend = looks.uniform(0.5, 0.95)  # foreign patch interpolation
    alpha = box
    out = mix(context.image, alpha * blend, moved)
    return Anomaly("cutpaste", alpha, out, centre, margin)


def multifocal(rng: np.random.Generator, looks: np.random.Generator, context: SliceContext) -> Anomaly | None:
    shape = context.image.shape
    white = (context.tissue == WHITE_MATTER) & context.brain
    anywhere = deep_tissue(context, 2.0)
    count = int(rng.integers(3, 11))
    alpha = np.zeros(shape, np.float32)
    centres = []
    for _ in range(count):
        centre = pick_centre(rng, white if rng.random() < 0.8 and white.any() else anywhere)
        if centre is None:
            continue
        radius = rng.uniform(1.5, 5.0)
        alpha = np.maximum(
            alpha, noisy_disc(shape, centre, (radius, radius * rng.uniform(0.5, 1.0)), rng.uniform(0, np.pi), 0.15, rng)
        )
        centres.append(centre)
    if not centres:
        return None
    alpha *= context.brain
    reference = local_reference(context, alpha)
    if context.levels == "random":
        level = random_level(looks, reference, brain_span(context))
    elif context.levels == "t1":
        level = reference * looks.uniform(0.45, 0.75)  # T1 "black holes"
    else:
        level = reference * looks.uniform(1.3, 1.8)  # bright on T2 / FLAIR
    centre = (float(np.mean([c[0] for c in centres])), float(np.mean([c[1] for c in centres])))
    return Anomaly("multifocal", alpha, mix(context.image, alpha, level), centre, 5.0)


def infarct(rng: np.random.Generator, looks: np.random.Generator, context: SliceContext) -> Anomaly | None:
    """HELD OUT: a wedge with its base on the cortex and its apex deep in the hemisphere."""
    shape = context.image.shape
    depth = ndimage.distance_transform_edt(context.brain)
    cortex = context.brain & (depth <= 3.0) & (context.tissue == GREY_MATTER)
    base = pick_centre(rng, cortex)
    if base is None:
        return None
    rows, cols = np.nonzero(context.brain)
    middle = (float(rows.mean()), float(cols.mean()))
    direction = np.array([middle[0] - base[0], middle[1] - base[1]], dtype=np.float32)
    length = float(np.linalg.norm(direction)) or 1.0
    direction /= length
    reach = rng.uniform(0.35, 0.7) * length
    half_angle = np.deg2rad(rng.uniform(15.0, 35.0))
    grid_r, grid_c = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    apex = (base[0] + direction[0] * reach, base[1] + direction[1] * reach)
    # the sector seen from the apex, opening back toward the cortex
    vr, vc = grid_r - apex[0], grid_c - apex[1]
    distance = np.sqrt(vr * vr + vc * vc) + 1e-6
    cos_to_base = (-(vr * direction[0] + vc * direction[1])) / distance
    wobble = 0.15 * smooth_noise(rng, shape, 4.0)
    inside_angle = np.clip((cos_to_base - np.cos(half_angle) + 0.05 * wobble) / 0.04 + 0.5, 0.0, 1.0)
    inside_reach = np.clip((reach * 1.3 * (1 + wobble) - distance) / 2.0 + 0.5, 0.0, 1.0)
    parenchyma = ((context.tissue == GREY_MATTER) | (context.tissue == WHITE_MATTER)).astype(np.float32)
    alpha = (inside_angle * inside_reach * ndimage.gaussian_filter(parenchyma, 0.7) * context.brain).astype(np.float32)
    if float((alpha > 0.5).sum()) < 20:
        return None
    if context.levels == "random":
        raise UserFacingError("the held-out infarct family is rendered only in the evaluation contrasts")
    reference = local_reference(context, alpha)
    if context.levels == "t1":
        csf = context.image[(context.tissue == CSF) & context.brain]
        fluid = float(np.median(csf)) if csf.size else 0.3 * reference
        target = reference + looks.uniform(0.45, 0.8) * (fluid - reference)
    else:
        target = reference * looks.uniform(1.4, 1.9)
    texture = 1.0 + 0.05 * smooth_noise(rng, shape, 2.0)
    return Anomaly("infarct", alpha, mix(context.image, alpha, target * texture), apex, reach)


FAMILY_FUNCTIONS: dict[str, Callable[[np.random.Generator, np.random.Generator, SliceContext], Anomaly | None]] = {
    "tumour": tumour,
    "blob": blob,
    "perlin": perlin,
    "cutpaste": cutpaste,
    "multifocal": multifocal,
    "infarct": infarct,
}


def draw_anomaly(
    family: str, rng: np.random.Generator, looks: np.random.Generator, context: SliceContext, attempts: int = 4
) -> Anomaly | None:
    """One anomaly of `family`, or None when the slice has no room for one."""
    for _ in range(attempts):
        anomaly = FAMILY_FUNCTIONS[family](rng, looks, context)
        if anomaly is not None:
            return anomaly
    return None


__all__ = [
    "Anomaly",
    "FAMILIES",
    "HELD_OUT_FAMILIES",
    "SliceContext",
    "TRAINING_FAMILIES",
    "check_families",
    "draw_anomaly",
    "visible_mask",
]
