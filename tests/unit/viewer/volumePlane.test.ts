// The MPR plane geometry (extension/src/viewer/volumePlane.ts): which volume axis and index
// a camera shows, how the plane's pixels map to voxels and to source images, the values read
// from the source images, the labelmap voxels written, and the world corners the heatmap is
// placed with. Expected values are written out from the volume layout, not from the code.
import { describe, expect, it } from 'vitest';
import { ClueInputError } from '../../../extension/src/errors';
import {
  countPlaneVoxels,
  extractPlane,
  forEachPlaneVoxel,
  heldByMasks,
  isPlaneKey,
  planeFromCamera,
  planePixelOfVoxel,
  planeSourceIndices,
  planeWorldCorners,
  writePlaneMask,
  type VolumeGeometry,
} from '../../../extension/src/viewer/volumePlane';
import { voxels } from './fakeHostParts';

// 4 columns (i) × 3 rows (j) × 5 images (k); 1 × 2 × 3 mm; axes along LPS x, y, z.
const DX = 4;
const DY = 3;
const DZ = 5;
const volume: VolumeGeometry = {
  dimensions: [DX, DY, DZ],
  spacing: [1, 2, 3],
  origin: [10, 20, 30],
  direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
};
/** World centre of voxel (i, j, k) of `volume`. */
const world = (i: number, j: number, k: number) => [10 + i, 20 + 2 * j, 30 + 3 * k];

// Cornerstone's MPR cameras (viewPlaneNormal points at the viewer).
const AXIAL = { viewPlaneNormal: [0, 0, -1], viewUp: [0, -1, 0] };
const SAGITTAL = { viewPlaneNormal: [1, 0, 0], viewUp: [0, 0, 1] };
const CORONAL = { viewPlaneNormal: [0, -1, 0], viewUp: [0, 0, 1] };

describe('planeFromCamera', () => {
  it('the axial view of an axial volume is its image grid at the focal point’s image', () => {
    const plane = planeFromCamera(volume, { ...AXIAL, focalPoint: world(1.5, 1, 3) });
    expect(plane).toMatchObject({
      normalAxis: 2,
      index: 3,
      orientation: 'axial',
      rowAxis: 1,
      rowStep: 1,
      columnAxis: 0,
      columnStep: 1,
      rows: DY,
      columns: DX,
      rowPixelSpacing: 2,
      columnPixelSpacing: 1,
    });
  });

  it('sagittal: columns run along j (anterior → posterior), rows down k (superior first), spacing per axis', () => {
    const plane = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(2, 1, 2) });
    expect(plane).toMatchObject({
      normalAxis: 0,
      index: 2,
      orientation: 'sagittal',
      columnAxis: 1,
      columnStep: 1,
      rowAxis: 2,
      rowStep: -1,
      rows: DZ,
      columns: DY,
      rowPixelSpacing: 3,
      columnPixelSpacing: 2,
    });
    expect(plane.key).toBe('mpr:sagittal:i=2');
    expect(isPlaneKey(plane.key)).toBe(true);
    expect(isPlaneKey('wadors:https://x/frames/1')).toBe(false);
  });

  it('coronal: columns along i, rows down k', () => {
    const plane = planeFromCamera(volume, { ...CORONAL, focalPoint: world(0, 2, 4) });
    expect(plane).toMatchObject({
      normalAxis: 1,
      index: 2,
      orientation: 'coronal',
      columnAxis: 0,
      columnStep: 1,
      rowAxis: 2,
      rowStep: -1,
      rows: DZ,
      columns: DX,
    });
  });

  it('rounds a focal point between planes to the nearest and follows a flipped view', () => {
    expect(planeFromCamera(volume, { ...SAGITTAL, focalPoint: [12.4, 0, 0] }).index).toBe(2);
    expect(planeFromCamera(volume, { ...SAGITTAL, focalPoint: [12.6, 0, 0] }).index).toBe(3);
    // Seen from the other side: the same plane, its columns reversed.
    const flipped = planeFromCamera(volume, {
      viewPlaneNormal: [-1, 0, 0],
      viewUp: [0, 0, 1],
      focalPoint: world(2, 0, 0),
    });
    expect(flipped).toMatchObject({ normalAxis: 0, index: 2, columnAxis: 1, columnStep: -1, rowStep: -1 });
    expect(flipped.key).toBe('mpr:sagittal:i=2');
  });

  it('finds the axis for a volume whose axes are not x, y, z (a sagittal acquisition)', () => {
    // i → posterior (+y), j → inferior (−z), k → left (+x).
    const sagittalSeries: VolumeGeometry = { ...volume, direction: [0, 1, 0, 0, 0, -1, 1, 0, 0] };
    const axial = planeFromCamera(sagittalSeries, { ...AXIAL, focalPoint: [10, 20, 30 - 2 * 2] });
    expect(axial).toMatchObject({ normalAxis: 1, index: 2, orientation: 'axial', rows: DX, columns: DZ });
    // Its acquisition plane: normal along k.
    expect(planeFromCamera(sagittalSeries, { ...SAGITTAL, focalPoint: [10 + 3 * 4, 20, 30] })).toMatchObject({
      normalAxis: 2,
      index: 4,
      orientation: 'sagittal',
    });
  });

  it('refuses an oblique plane with a clear message, accepts a tilt under half a voxel', () => {
    const tilt = (degrees: number) => {
      const r = (degrees * Math.PI) / 180;
      return { viewPlaneNormal: [Math.cos(r), Math.sin(r), 0], viewUp: [0, 0, 1], focalPoint: world(2, 1, 2) };
    };
    expect(() => planeFromCamera(volume, tilt(20))).toThrow(ClueInputError);
    expect(() => planeFromCamera(volume, tilt(20))).toThrow(
      /oblique plane \(20\.0° off.*aligned with the volume's axes/,
    );
    // Across the plane (6 × 15 mm) half a voxel (0.5 mm) allows about 1.8°.
    expect(planeFromCamera(volume, tilt(1)).index).toBe(2);
    expect(() => planeFromCamera(volume, tilt(3))).toThrow(/oblique/);
  });

  it('an obliquely acquired series: the host’s patient-axis views are refused as such, its acquisition plane is read', () => {
    // Slices tilted by 1° about the patient's z axis (image orientation cos 1°, sin 1°, as a
    // tilted brain MR), 64 × 64 × 40 voxels of 1 × 1 × 3 mm: across the plane 1° moves a
    // sagittal or coronal view by 2.4 mm, far over half a voxel.
    const [c, s] = [0.9998476951564, 0.0174524064373];
    const tilted: VolumeGeometry = {
      dimensions: [64, 64, 40],
      spacing: [1, 1, 3],
      origin: [0, 0, 0],
      direction: [c, s, 0, -s, c, 0, 0, 0, 1],
    };
    const centre = [32, 32, 60];
    const message = (plane: string) =>
      `This series was acquired obliquely: its slices are tilted 1.0° from the patient's ${plane} plane that this MPR view shows. CLUE reads only planes along the series' own axes — its acquisition plane: use the stack (1×1) layout (press MPR again) and run there.`;
    expect(() => planeFromCamera(tilted, { ...SAGITTAL, focalPoint: centre })).toThrow(ClueInputError);
    expect(() => planeFromCamera(tilted, { ...SAGITTAL, focalPoint: centre })).toThrow(message('sagittal'));
    expect(() => planeFromCamera(tilted, { ...CORONAL, focalPoint: centre })).toThrow(message('coronal'));
    // The axial view looks along k, the series' own axis: its acquisition plane is read.
    expect(planeFromCamera(tilted, { ...AXIAL, focalPoint: centre })).toMatchObject({
      normalAxis: 2,
      index: 20,
      orientation: 'axial',
    });
    // A view the user rotated (not along a patient axis) still gets the rotation message.
    const r = (20 * Math.PI) / 180;
    expect(() =>
      planeFromCamera(tilted, {
        viewPlaneNormal: [Math.cos(r), Math.sin(r), 0],
        viewUp: [0, 0, 1],
        focalPoint: centre,
      }),
    ).toThrow(/oblique plane \(19\.0° off.*Reset the view's rotation/);
  });

  it('refuses a plane outside the volume', () => {
    expect(() => planeFromCamera(volume, { ...SAGITTAL, focalPoint: [10 + 7, 0, 0] })).toThrow(
      /outside the volume \(index 7 of 4\)/,
    );
  });
});

/** Source image k: pixel (i, j) holds 100·i + 10·j + k (stored values). */
const stored = (k: number) =>
  Float32Array.from({ length: DX * DY }, (_, p) => 100 * (p % DX) + 10 * Math.floor(p / DX) + k);

describe('plane extraction and the plane → source image mapping', () => {
  it('reads the sagittal plane from every source image, modality LUT per image', () => {
    const plane = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(2, 0, 0) });
    const read: number[] = [];
    const values = extractPlane(plane, volume.dimensions, (k) => {
      read.push(k);
      return { stored: stored(k), slope: k === 4 ? 2 : 1, intercept: k === 4 ? -5 : 0 };
    });
    expect(read).toEqual([0, 1, 2, 3, 4]); // each source image read once
    expect(values.length).toBe(DZ * DY);
    for (let r = 0; r < DZ; r++) {
      for (let c = 0; c < DY; c++) {
        const k = DZ - 1 - r; // superior (highest k) on the first row
        const raw = 100 * 2 + 10 * c + k;
        expect(values[r * DY + c]).toBe(k === 4 ? raw * 2 - 5 : raw);
      }
    }
  });

  it('reads the axial plane from its one source image, unchanged', () => {
    const plane = planeFromCamera(volume, { ...AXIAL, focalPoint: world(0, 0, 1) });
    expect(planeSourceIndices(plane, volume.dimensions)).toEqual([1]);
    expect(
      Array.from(extractPlane(plane, volume.dimensions, (k) => ({ stored: stored(k), slope: 1, intercept: 0 }))),
    ).toEqual(Array.from(stored(1)));
  });

  it('refuses a source image whose size is not the volume’s', () => {
    const plane = planeFromCamera(volume, { ...CORONAL, focalPoint: world(0, 1, 0) });
    expect(() =>
      extractPlane(plane, volume.dimensions, () => ({ stored: new Float32Array(5), slope: 1, intercept: 0 })),
    ).toThrow(/has 5 pixels/);
  });

  it('maps each row of a coronal plane to one source image and each pixel to one voxel', () => {
    const plane = planeFromCamera(volume, { ...CORONAL, focalPoint: world(0, 1, 0) });
    const seen: Array<[number, number, number]> = [];
    forEachPlaneVoxel(plane, volume.dimensions, (planeIndex, k, pixel) => seen.push([planeIndex, k, pixel]));
    expect(seen.length).toBe(DZ * DX);
    seen.forEach(([planeIndex, k, pixel]) => {
      const row = Math.floor(planeIndex / DX);
      const column = planeIndex % DX;
      expect(k).toBe(DZ - 1 - row);
      expect(pixel).toBe(1 * DX + column); // j = 1, i = column
    });
  });
});

describe('labelmap voxels of a plane', () => {
  const labelmaps = () => Array.from({ length: DZ }, () => new Uint8Array(DX * DY));

  it('writes exactly the thresholded voxels of the plane, leaves every other voxel, re-thresholds', () => {
    const data = labelmaps();
    data[0]![0] = 7; // someone else's voxel off the plane (i = 0)
    const plane = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(3, 0, 0) });
    // Map value per plane pixel: its index / 15, so the threshold picks the last pixels.
    const map = Float32Array.from({ length: DZ * DY }, (_, p) => p / 15);
    const first = writePlaneMask(plane, volume.dimensions, map, 0.5, (k) => voxels(data[k]!), 1);
    const above = [...map].filter((v) => v >= Math.fround(0.5)).length;
    expect(first.count).toBe(above);
    // Plane pixel p ≥ 8 (8/15 ≥ 0.5): rows 2..4 from column 2 of row 2 → images k = 2, 1, 0.
    expect(first.changed).toEqual([0, 1, 2]);
    const onPlane = (k: number) => [0, 1, 2].map((j) => data[k]![j * DX + 3]);
    expect(onPlane(2)).toEqual([0, 0, 1]);
    expect(onPlane(1)).toEqual([1, 1, 1]);
    expect(onPlane(0)).toEqual([1, 1, 1]);
    expect(onPlane(4)).toEqual([0, 0, 0]);
    const total = data.reduce((sum, d) => sum + d.filter((v) => v === 1).length, 0);
    expect(total).toBe(above);
    expect(data[0]![0]).toBe(7);
    expect(countPlaneVoxels(plane, volume.dimensions, (k) => voxels(data[k]!), 1)).toBe(above);

    const raised = writePlaneMask(plane, volume.dimensions, map, 0.9, (k) => voxels(data[k]!), 1);
    expect(raised.count).toBe([...map].filter((v) => v >= Math.fround(0.9)).length);
    expect(countPlaneVoxels(plane, volume.dimensions, (k) => voxels(data[k]!), 1)).toBe(raised.count);
    expect(data[0]![0]).toBe(7);
  });

  it('keeps voxels another stored result holds and counts only its own', () => {
    const data = labelmaps();
    const plane = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(3, 0, 0) });
    // An image result on source image 1 flags its pixel (i = 3, j = 0), which the plane
    // crosses; the plane's own map is below the threshold everywhere.
    const held = (k: number, pixel: number) => k === 1 && pixel === 3;
    const written = writePlaneMask(
      plane,
      volume.dimensions,
      new Float32Array(DZ * DY).fill(0.1),
      0.5,
      (k) => voxels(data[k]!),
      1,
      held,
    );
    expect(written).toEqual({ count: 0, changed: [1] });
    expect(data[1]![3]).toBe(1);
    expect(data.reduce((sum, d) => sum + d.filter((v) => v === 1).length, 0)).toBe(1);
  });

  it('maps a voxel back to its plane pixel (the inverse of forEachPlaneVoxel)', () => {
    const plane = planeFromCamera(volume, { ...CORONAL, focalPoint: world(0, 1, 0) });
    forEachPlaneVoxel(plane, volume.dimensions, (planeIndex, k, pixel) => {
      expect(planePixelOfVoxel(plane, volume.dimensions, [pixel % DX, Math.floor(pixel / DX), k])).toBe(planeIndex);
    });
    expect(planePixelOfVoxel(plane, volume.dimensions, [0, 2, 0])).toBe(-1); // j = 2: another coronal plane
  });

  it('heldByMasks: a voxel is held where a stored image or plane result reaches its own threshold', () => {
    const imageIds = Array.from({ length: DZ }, (_, k) => `img:${k}`);
    const sagittal = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(3, 0, 0) });
    // The sagittal map: 1 on plane pixel (row 0 = k 4, column 2 = j 2), 0.4 elsewhere.
    const planeMap = new Float32Array(DZ * DY).fill(0.4);
    planeMap[0 * DY + 2] = 1;
    const imageMap = new Float32Array(DX * DY);
    imageMap[5] = 0.7; // image 2, pixel (i = 1, j = 1)
    const held = heldByMasks([
      { map: imageMap, threshold: 0.7, imageId: 'img:2' },
      {
        map: planeMap,
        threshold: 0.5,
        imageId: sagittal.key,
        plane: { volumeId: 'v', volume, plane: sagittal, sourceImageIds: imageIds },
      },
    ])!;
    expect(held('img:2', 5)).toBe(true); // float32(0.7) ≥ 0.7 in float32
    expect(held('img:2', 6)).toBe(false);
    expect(held('img:4', 2 * DX + 3)).toBe(true); // voxel (3, 2, 4): the plane's pixel 2
    expect(held('img:4', 1 * DX + 3)).toBe(false); // on the plane, below its threshold
    expect(held('img:4', 2 * DX + 2)).toBe(false); // off the plane (i = 2)
    expect(held('other', 0)).toBe(false);
    expect(heldByMasks([])).toBeUndefined();
  });

  it('refuses a map of the wrong size', () => {
    const plane = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(0, 0, 0) });
    expect(() =>
      writePlaneMask(plane, volume.dimensions, new Float32Array(3), 0.5, () => voxels(new Uint8Array(DX * DY)), 1),
    ).toThrow(/needs 15 map values/);
  });
});

describe('planeWorldCorners', () => {
  it('gives the outer corners of the sagittal plane, superior-anterior first', () => {
    const plane = planeFromCamera(volume, { ...SAGITTAL, focalPoint: world(2, 0, 0) });
    const corners = planeWorldCorners(volume, plane);
    // First pixel: voxel (2, 0, 4) at (12, 20, 42); half a column back along +y (1 mm),
    // half a row up along +z (1.5 mm).
    expect(corners.origin).toEqual([12, 19, 43.5]);
    expect(corners.alongRow).toEqual([12, 19 + 3 * 2, 43.5]);
    expect(corners.alongColumn).toEqual([12, 19, 43.5 - 5 * 3]);
  });
});
