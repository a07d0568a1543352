// What turns one slice into a map: the seam where the model engine plugs in. The commands
// only know this interface; today the placeholder implements it, the inference engine
// (extension/src/engine/) will implement it next, with the same inputs and outputs.
import { PLACEHOLDER_MAP_NAME, placeholderIntensityMap } from './placeholderIntensityMap';

export interface SliceForMapping {
  /** Real-world values (modality LUT applied), row-major. */
  values: Float32Array;
  rows: number;
  columns: number;
}

export interface SliceMap {
  /** One value per slice pixel, on the slice grid, in [0, 1]. */
  map: Float32Array;
  /** Image-level score in [0, 1]. */
  score: number;
}

export interface SliceMapper {
  /** Shown in the panel and recorded with each result. */
  readonly name: string;
  compute(slice: SliceForMapping): Promise<SliceMap>;
}

export const placeholderMapper: SliceMapper = {
  name: PLACEHOLDER_MAP_NAME,
  async compute({ values, rows, columns }) {
    const { map, score } = placeholderIntensityMap(values, rows, columns);
    return { map, score };
  },
};
