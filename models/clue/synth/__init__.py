"""Deterministic demo data from real anatomy: the Colin27 T1 MRI, our own tissue
segmentation of it, seeded synthetic tumour-like lesions, T2-like and FLAIR-like contrasts,
DICOM series + SEG ground truth, and OHIF's dicomjson file.

Numpy API (training / evaluation)::

    from clue.synth import make_case, extract_slice
    case = make_case(seed=7, contrast="t1", lesion=True)   # Case(volume, mask, spacing, affine, meta)
    plane = extract_slice(case.volume, "axial", 80)        # [rows, columns], display orientation

Modules: anatomy (Colin27 + segmentation), lesions (geometry), contrasts (intensities),
case (make_case), views (slices + DICOM geometry), dicom_writer, dicomjson, generate, cli.
"""

from clue.synth.case import Case, make_case, make_lesion, render_case
from clue.synth.contrasts import CONTRASTS
from clue.synth.lesions import LABEL_CORE, LABEL_OEDEMA
from clue.synth.views import VIEWS, extract_slice, num_slices, slice_geometry, slices_with_label

__all__ = [
    "CONTRASTS",
    "Case",
    "LABEL_CORE",
    "LABEL_OEDEMA",
    "VIEWS",
    "extract_slice",
    "make_case",
    "make_lesion",
    "num_slices",
    "render_case",
    "slice_geometry",
    "slices_with_label",
]
