// The plane an orthographic (MPR) viewport displays, in the voxel grid of its volume: which
// volume axis the plane is normal to, at which index, and how the plane's rows and columns
// run through the other two axes. Pure geometry (no host calls), so the extraction and the
// plane → source-image mapping are unit-tested; readSlice.ts, labelmap.ts and the overlay
// feed it the host's volume and camera.
//
// Conventions (Cornerstone3D image volumes built from a series): voxel (i, j, k) lies at
// origin + i·spacing[0]·d0 + j·spacing[1]·d1 + k·spacing[2]·d2, where d0, d1, d2 are the rows
// of `direction`; k is the index of the source image in the volume's imageIds and
// j·dimensions[0] + i the pixel inside that image (i = column, j = row).
import { ClueInputError } from '../errors';
import { aboveThreshold, MaskVoxelWriter, type VoxelWriter } from './thresholdMask';

export type Vec3 = [number, number, number];

export interface VolumeGeometry {
  dimensions: Vec3;
  spacing: Vec3;
  origin: Vec3;
  /** Row-major 3×3: the world directions of the i, j and k axes. */
  direction: ArrayLike<number>;
}

export interface PlaneCamera {
  /** Points from the focal point towards the viewer (Cornerstone's convention). */
  viewPlaneNormal: ArrayLike<number>;
  viewUp: ArrayLike<number>;
  focalPoint: ArrayLike<number>;
}

export type VolumeAxis = 0 | 1 | 2;

/** One displayed plane of a volume, aligned with its axes. */
export interface VolumePlane {
  /** The volume axis the plane is normal to, and the plane's index along it. */
  normalAxis: VolumeAxis;
  index: number;
  /** Patient-space name of the plane (from the normal axis' dominant patient direction). */
  orientation: 'axial' | 'sagittal' | 'coronal';
  /** The volume axis that advances down the plane's rows, and in which direction (±1). */
  rowAxis: VolumeAxis;
  rowStep: 1 | -1;
  /** The volume axis that advances along a row (left → right on screen), and its direction. */
  columnAxis: VolumeAxis;
  columnStep: 1 | -1;
  rows: number;
  columns: number;
  /** Millimetres between rows and between columns (the volume's spacing on those axes). */
  rowPixelSpacing: number;
  columnPixelSpacing: number;
  /** Stable key of this plane within its volume: results are stored under it. */
  key: string;
}

/** A reformatted plane of a cached volume: where its pixels come from (stored with its result). */
export interface PlaneSource {
  volumeId: string;
  volume: VolumeGeometry;
  plane: VolumePlane;
  /** The volume's source images by k index (the labelmap is per source image). */
  sourceImageIds: string[];
}

const AXIS_LETTER = ['i', 'j', 'k'] as const;
const PLANE_KEY_PREFIX = 'mpr:';

/** Whether a result key names a reformatted plane rather than an image. */
export function isPlaneKey(key: string): boolean {
  return key.startsWith(PLANE_KEY_PREFIX);
}

function axisVector(direction: ArrayLike<number>, axis: VolumeAxis): Vec3 {
  return [direction[axis * 3]!, direction[axis * 3 + 1]!, direction[axis * 3 + 2]!];
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}

function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

function normalise(v: ArrayLike<number>): Vec3 {
  const length = Math.hypot(v[0]!, v[1]!, v[2]!);
  if (!(length > 0)) throw new ClueInputError('The viewport camera has no view direction.');
  return [v[0]! / length, v[1]! / length, v[2]! / length];
}

/** Patient axis (DICOM LPS: x → sagittal normal, y → coronal, z → axial) a direction runs along. */
function orientationOf(direction: Vec3): VolumePlane['orientation'] {
  const [x, y, z] = direction.map(Math.abs) as Vec3;
  if (x >= y && x >= z) return 'sagittal';
  return y >= z ? 'coronal' : 'axial';
}

/** The key a plane's result is stored under (readable in the panel and the test hook). */
export function planeKey(orientation: string, normalAxis: VolumeAxis, index: number): string {
  return `${PLANE_KEY_PREFIX}${orientation}:${AXIS_LETTER[normalAxis]}=${index}`;
}

/** Degrees between a unit direction and the nearest patient axis (LPS x, y or z). */
function degreesOffPatientAxes(v: Vec3): number {
  const nearest = Math.max(Math.abs(v[0]), Math.abs(v[1]), Math.abs(v[2]));
  return (Math.acos(Math.min(1, nearest)) * 180) / Math.PI;
}

/**
 * Below this a camera's view direction counts as along a patient axis: the host's MPR
 * protocol gives its axial, sagittal and coronal viewports exactly those cameras.
 */
const PATIENT_AXIS_DEGREES = 0.01;

/**
 * The displayed plane from the volume's geometry and the viewport's camera. Refuses (with a
 * message for the panel) a plane that is oblique to the volume's axes — tilted by more than
 * half a voxel across the volume — or that lies outside the volume. An oblique plane has two
 * causes with different remedies: the user rotated the view, or the view is one of the
 * host's patient-axis MPR views and the series itself was acquired at an angle to those axes.
 */
export function planeFromCamera(volume: VolumeGeometry, camera: PlaneCamera): VolumePlane {
  const { dimensions, spacing, origin, direction } = volume;
  const normal = normalise(camera.viewPlaneNormal);
  const cosines = ([0, 1, 2] as const).map((axis) => dot(normal, axisVector(direction, axis)));
  const normalAxis = ([0, 1, 2] as const).reduce(
    (best, axis) => (Math.abs(cosines[axis]!) > Math.abs(cosines[best]!) ? axis : best),
    0 as VolumeAxis,
  );
  const inPlane = ([0, 1, 2] as const).filter((axis) => axis !== normalAxis) as [VolumeAxis, VolumeAxis];
  // The tilt moves the plane by sin(angle) · extent across the volume: beyond half a voxel
  // along the normal, reading one index would show other voxels than the screen does.
  const extent = Math.hypot(...inPlane.map((axis) => dimensions[axis] * spacing[axis]));
  const sine = Math.sqrt(Math.max(0, 1 - cosines[normalAxis]! ** 2));
  if (sine * extent > spacing[normalAxis] / 2) {
    const degrees = ((Math.asin(Math.min(1, sine)) * 180) / Math.PI).toFixed(1);
    if (degreesOffPatientAxes(normal) < PATIENT_AXIS_DEGREES) {
      // A patient-axis view oblique to the volume: the volume is what is tilted, and no
      // rotation of the view would line them up.
      throw new ClueInputError(
        `This series was acquired obliquely: its slices are tilted ${degrees}° from the patient's ${orientationOf(normal)} plane that this MPR view shows. CLUE reads only planes along the series' own axes — its acquisition plane: use the stack (1×1) layout (press MPR again) and run there.`,
      );
    }
    throw new ClueInputError(
      `The viewport shows an oblique plane (${degrees}° off the volume's nearest axis); CLUE reads planes aligned with the volume's axes (axial, sagittal, coronal). Reset the view's rotation and run again.`,
    );
  }
  const normalDirection = axisVector(direction, normalAxis);
  const offset = [0, 1, 2].map((d) => camera.focalPoint[d]! - origin[d]!);
  const continuous = dot(offset, normalDirection) / spacing[normalAxis];
  const index = Math.round(continuous);
  if (index < 0 || index >= dimensions[normalAxis]) {
    throw new ClueInputError(
      `The displayed plane lies outside the volume (index ${index} of ${dimensions[normalAxis]}).`,
    );
  }

  // As on screen: columns run to the viewer's right, rows downwards (against viewUp). With
  // Cornerstone's normal pointing at the viewer, right = viewUp × normal.
  const up = normalise(camera.viewUp);
  const right = cross(up, normal);
  const [a, b] = inPlane;
  const alongRight = (axis: VolumeAxis) => dot(right, axisVector(direction, axis));
  const columnAxis = Math.abs(alongRight(a)) >= Math.abs(alongRight(b)) ? a : b;
  const rowAxis = columnAxis === a ? b : a;
  const columnStep = alongRight(columnAxis) >= 0 ? 1 : -1;
  const rowStep = dot(up, axisVector(direction, rowAxis)) <= 0 ? 1 : -1;
  const orientation = orientationOf(normalDirection);
  return {
    normalAxis,
    index,
    orientation,
    rowAxis,
    rowStep,
    columnAxis,
    columnStep,
    rows: dimensions[rowAxis],
    columns: dimensions[columnAxis],
    rowPixelSpacing: spacing[rowAxis],
    columnPixelSpacing: spacing[columnAxis],
    key: planeKey(orientation, normalAxis, index),
  };
}

/** The voxel (i, j, k) under the plane's pixel (row, column). */
export function planeVoxel(plane: VolumePlane, dimensions: Vec3, row: number, column: number): Vec3 {
  const voxel: Vec3 = [0, 0, 0];
  voxel[plane.normalAxis] = plane.index;
  voxel[plane.rowAxis] = plane.rowStep === 1 ? row : dimensions[plane.rowAxis] - 1 - row;
  voxel[plane.columnAxis] = plane.columnStep === 1 ? column : dimensions[plane.columnAxis] - 1 - column;
  return voxel;
}

/**
 * Visits every pixel of the plane with the source image it lies in (k: index into the
 * volume's imageIds) and its pixel index inside that image, in plane order (row-major).
 */
export function forEachPlaneVoxel(
  plane: VolumePlane,
  dimensions: Vec3,
  visit: (planeIndex: number, sourceIndex: number, pixelIndex: number) => void,
): void {
  const width = dimensions[0];
  let planeIndex = 0;
  for (let row = 0; row < plane.rows; row++) {
    for (let column = 0; column < plane.columns; column++) {
      const [i, j, k] = planeVoxel(plane, dimensions, row, column);
      visit(planeIndex++, k, j * width + i);
    }
  }
}

/** The source images (indices into the volume's imageIds) a plane crosses, ascending. */
export function planeSourceIndices(plane: VolumePlane, dimensions: Vec3): number[] {
  if (plane.normalAxis === 2) return [plane.index];
  return Array.from({ length: dimensions[2] }, (_, k) => k);
}

/** One source image's stored pixels and the linear modality LUT that turns them into real values. */
export interface SourceSlice {
  stored: ArrayLike<number>;
  slope: number;
  intercept: number;
}

/**
 * The plane's real-world values (row-major, rows · columns), read from the source images.
 * `sliceAt(k)` gives source image k (read once per image).
 */
export function extractPlane(
  plane: VolumePlane,
  dimensions: Vec3,
  sliceAt: (sourceIndex: number) => SourceSlice,
): Float32Array {
  const sliceLength = dimensions[0] * dimensions[1];
  const slices = new Map<number, SourceSlice>();
  for (const k of planeSourceIndices(plane, dimensions)) {
    const slice = sliceAt(k);
    if (slice.stored.length !== sliceLength) {
      throw new ClueInputError(
        `Image ${k + 1} of the volume has ${slice.stored.length} pixels, the volume ${dimensions[0]}×${dimensions[1]} per image.`,
      );
    }
    slices.set(k, slice);
  }
  const values = new Float32Array(plane.rows * plane.columns);
  forEachPlaneVoxel(plane, dimensions, (planeIndex, k, pixelIndex) => {
    const slice = slices.get(k)!;
    values[planeIndex] = slice.stored[pixelIndex]! * slice.slope + slice.intercept;
  });
  return values;
}

/** World position of voxel (i, j, k)'s centre. */
export function voxelToWorld(volume: VolumeGeometry, voxel: ArrayLike<number>): Vec3 {
  const out: Vec3 = [volume.origin[0], volume.origin[1], volume.origin[2]];
  for (const axis of [0, 1, 2] as const) {
    const d = axisVector(volume.direction, axis);
    const step = voxel[axis]! * volume.spacing[axis];
    for (let c = 0; c < 3; c++) out[c]! += step * d[c]!;
  }
  return out;
}

/**
 * The plane's outer corners in world coordinates: the corner of its first pixel, the end of
 * its first row (after `columns` pixels) and the end of its first column (after `rows`) —
 * what the heatmap overlay needs to place the map.
 */
export function planeWorldCorners(
  volume: VolumeGeometry,
  plane: VolumePlane,
): { origin: Vec3; alongRow: Vec3; alongColumn: Vec3 } {
  const { dimensions } = volume;
  const first = voxelToWorld(volume, planeVoxel(plane, dimensions, 0, 0));
  const stepOf = (axis: VolumeAxis, step: number): Vec3 => {
    const d = axisVector(volume.direction, axis);
    const length = step * volume.spacing[axis];
    return [d[0] * length, d[1] * length, d[2] * length];
  };
  const columnStep = stepOf(plane.columnAxis, plane.columnStep);
  const rowStep = stepOf(plane.rowAxis, plane.rowStep);
  const origin: Vec3 = [0, 1, 2].map((c) => first[c]! - columnStep[c]! / 2 - rowStep[c]! / 2) as Vec3;
  return {
    origin,
    alongRow: [0, 1, 2].map((c) => origin[c]! + plane.columns * columnStep[c]!) as Vec3,
    alongColumn: [0, 1, 2].map((c) => origin[c]! + plane.rows * rowStep[c]!) as Vec3,
  };
}

/** Which pixel of the plane voxel (i, j, k) is (row-major), or -1 when it is off the plane. */
export function planePixelOfVoxel(plane: VolumePlane, dimensions: Vec3, voxel: ArrayLike<number>): number {
  if (voxel[plane.normalAxis] !== plane.index) return -1;
  const along = (axis: VolumeAxis, step: 1 | -1) => (step === 1 ? voxel[axis]! : dimensions[axis] - 1 - voxel[axis]!);
  return along(plane.rowAxis, plane.rowStep) * plane.columns + along(plane.columnAxis, plane.columnStep);
}

/**
 * Writes the thresholded map into the labelmap voxels under the plane (segmentIndex where
 * map ≥ threshold, or where `heldElsewhere(k, pixel)` says another stored result flags the
 * voxel; 0 elsewhere) and nothing else; `labelmapAt(k)` is the labelmap of source image k.
 * The threshold rule and the voxel writes are thresholdMask.ts's, as for an image. Returns
 * the plane's own voxels at the threshold (counted back from the labelmaps) and the source
 * indices whose labelmap changed.
 */
export function writePlaneMask(
  plane: VolumePlane,
  dimensions: Vec3,
  map: ArrayLike<number>,
  threshold: number,
  labelmapAt: (sourceIndex: number) => VoxelWriter,
  segmentIndex: number,
  heldElsewhere?: (sourceIndex: number, pixelIndex: number) => boolean,
): { count: number; changed: number[] } {
  const inMask = aboveThreshold(threshold);
  if (map.length !== plane.rows * plane.columns) {
    throw new RangeError(
      `a ${plane.rows}×${plane.columns} plane needs ${plane.rows * plane.columns} map values, got ${map.length}`,
    );
  }
  const { writerFor, writers } = writersBySource(labelmapAt, dimensions);
  let count = 0;
  forEachPlaneVoxel(plane, dimensions, (planeIndex, k, pixelIndex) => {
    const writer = writerFor(k);
    const own = inMask(map[planeIndex]!);
    if (
      writer.writeMasked(
        pixelIndex,
        own,
        !own && heldElsewhere !== undefined && heldElsewhere(k, pixelIndex),
        segmentIndex,
      )
    )
      count++;
  });
  const changed = [...writers].filter(([, writer]) => writer.changed).map(([k]) => k);
  return { count, changed: changed.sort((x, y) => x - y) };
}

/** Voxels equal to `segmentIndex` under the plane, read back from the labelmaps. */
export function countPlaneVoxels(
  plane: VolumePlane,
  dimensions: Vec3,
  labelmapAt: (sourceIndex: number) => VoxelWriter,
  segmentIndex: number,
): number {
  const { writerFor } = writersBySource(labelmapAt, dimensions);
  let count = 0;
  forEachPlaneVoxel(plane, dimensions, (_planeIndex, k, pixelIndex) => {
    if (writerFor(k).get(pixelIndex) === segmentIndex) count++;
  });
  return count;
}

/** One voxel writer per source image the plane crosses, made on first use. */
function writersBySource(labelmapAt: (sourceIndex: number) => VoxelWriter, dimensions: Vec3) {
  const writers = new Map<number, MaskVoxelWriter>();
  const sliceLength = dimensions[0] * dimensions[1];
  const writerFor = (k: number): MaskVoxelWriter => {
    let writer = writers.get(k);
    if (!writer) writers.set(k, (writer = new MaskVoxelWriter(labelmapAt(k), sliceLength)));
    return writer;
  };
  return { writerFor, writers };
}

/** A stored result as our labelmap holds it: its map at the threshold it was last written at. */
export interface StoredMask {
  map: ArrayLike<number>;
  threshold: number;
  /** The source image of an image result (a plane result's key otherwise). */
  imageId: string;
  /** Set for a reformatted plane's result: the voxels its map covers. */
  plane?: PlaneSource;
}

/**
 * Whether any of `masks` flags the labelmap voxel at `pixelIndex` of source image
 * `imageId`, each at its own threshold — so a write keeps the voxels other stored results
 * (an image's map, a crossing plane's) hold, and our labelmap is the union of all stored
 * results at their thresholds, whatever order they were written in. Undefined when there
 * are none.
 */
export function heldByMasks(masks: StoredMask[]): ((imageId: string, pixelIndex: number) => boolean) | undefined {
  const images = new Map<string, { map: ArrayLike<number>; inMask: (value: number) => boolean }>();
  const planes: Array<{
    source: PlaneSource;
    sourceIndex: Map<string, number>;
    map: ArrayLike<number>;
    inMask: (value: number) => boolean;
  }> = [];
  for (const mask of masks) {
    const inMask = aboveThreshold(mask.threshold);
    if (mask.plane) {
      planes.push({
        source: mask.plane,
        sourceIndex: new Map(mask.plane.sourceImageIds.map((id, k) => [id, k])),
        map: mask.map,
        inMask,
      });
    } else {
      images.set(mask.imageId, { map: mask.map, inMask });
    }
  }
  if (images.size === 0 && planes.length === 0) return undefined;
  return (imageId, pixelIndex) => {
    const image = images.get(imageId);
    if (image && pixelIndex < image.map.length && image.inMask(image.map[pixelIndex]!)) return true;
    for (const { source, sourceIndex, map, inMask } of planes) {
      const k = sourceIndex.get(imageId);
      if (k === undefined) continue;
      const dx = source.volume.dimensions[0];
      const at = planePixelOfVoxel(source.plane, source.volume.dimensions, [
        pixelIndex % dx,
        Math.floor(pixelIndex / dx),
        k,
      ]);
      if (at >= 0 && inMask(map[at]!)) return true;
    }
    return false;
  };
}
