"""Reads a SEG and a Parametric Map written by extension/src/dicom with highdicom and pydicom
(independent readers) and prints what they find as JSON, for tests/unit/dicom/interop.test.ts.

Usage: python readInPython.py <seg.dcm> <map.dcm> <source uids, comma-separated, frame order>
"""

from __future__ import annotations

import json
import sys

import highdicom as hd
import numpy as np
import pydicom


def main(seg_path: str, map_path: str, source_uids: list[str]) -> None:
    seg = hd.seg.segread(seg_path)
    segment = seg.get_segment_description(1)
    algorithm = segment.algorithm_identification
    # One mask per source instance, in the order the caller's frames were given.
    masks = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=source_uids, segment_numbers=[1], assert_missing_frames_are_empty=False
    )
    pm = pydicom.dcmread(map_path)
    floats = pm.pixel_array.astype(np.float32)
    print(json.dumps({
        "seg": {
            "segmentation_type": seg.segmentation_type.value,
            "segment_label": segment.segment_label,
            "algorithm_type": segment.algorithm_type.value,
            "algorithm_name": algorithm[0].AlgorithmName if algorithm is not None else None,
            "algorithm_version": algorithm[0].AlgorithmVersion if algorithm is not None else None,
            "source_uids": [uids[2] for uids in seg.get_source_image_uids()],
            "mask_sums": [int(m.sum()) for m in masks[..., 0]],
            "mask_shape": list(masks.shape),
        },
        "map": {
            "sop_class": str(pm.SOPClassUID),
            "shape": list(floats.shape),
            "frame_sums": [float(f.astype(np.float64).sum()) for f in floats.reshape(floats.shape[0] if floats.ndim == 3 else 1, -1)],
        },
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
