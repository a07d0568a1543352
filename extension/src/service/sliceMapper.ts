// What turns one slice into a map: the seam between ClueService and the model. The service
// only knows this interface; the inference engine (extension/src/engine/) implements
// it, created once per model URL on the first run.
import {
  createEngine,
  isAbortError,
  type BackendPreferences,
  type CreateEngineOptions,
  type Engine,
  type EngineInfo,
  type EngineProgress,
  type EngineResult,
} from '../engine';
import type { RunTimings } from '../engine/pipeline';
import type { VariantRequest } from '../engine/variants';

export interface SliceForMapping {
  /** Real-world values (modality LUT applied), row-major. */
  values: Float32Array;
  rows: number;
  columns: number;
}

/** What the service keeps of the engine's answer: the map on the slice grid, the score, the stage timings. */
export type SliceMapping = Pick<EngineResult, 'map' | 'score'> & { timings: RunTimings };

export interface SliceMapper {
  /** Shown in the panel and recorded with each result (model id + version). */
  readonly name: string;
  readonly info: EngineInfo;
  /** Rejects with an AbortError when `signal` aborts or a newer compute starts. */
  compute(slice: SliceForMapping, signal?: AbortSignal): Promise<SliceMapping>;
}

export function engineSliceMapper(engine: Engine): SliceMapper {
  return {
    name: `${engine.info.modelId} ${engine.info.modelVersion}`,
    info: engine.info,
    async compute({ values, rows, columns }, signal) {
      const result = await engine.run({ values, width: columns, height: rows }, signal);
      if (result.map.length !== rows * columns) {
        throw new Error(`the engine returned ${result.map.length} values for a ${rows}×${columns} slice`);
      }
      return result;
    },
  };
}

export { isAbortError };

/**
 * One engine per model URL, created lazily on the first run and shared by every later run.
 * A load that fails is forgotten, so the next run tries again (e.g. after the model was
 * copied into place).
 */
export interface MapperRegistry {
  /**
   * `backends` and `variant` are used by the load that creates the engine; later calls share
   * that engine.
   */
  get(
    modelUrl: string,
    onProgress: (progress: EngineProgress) => void,
    backends?: BackendPreferences,
    variant?: VariantRequest,
  ): Promise<SliceMapper>;
  /** Stops every worker (mode exit): the model's memory goes back to the browser. */
  disposeAll(): void;
}

export function createMapperRegistry(
  create: (options: CreateEngineOptions) => Promise<Engine> = createEngine,
): MapperRegistry {
  const loads = new Map<string, Promise<Engine>>();
  return {
    async get(modelUrl, onProgress, backends, variant) {
      let load = loads.get(modelUrl);
      if (!load) {
        load = create({ manifestUrl: modelUrl, onProgress, backends, ...(variant ? { variant } : {}) });
        loads.set(modelUrl, load);
        load.catch(() => {
          if (loads.get(modelUrl) === load) loads.delete(modelUrl);
        });
      }
      return engineSliceMapper(await load);
    },
    disposeAll() {
      for (const load of loads.values())
        load.then(
          (engine) => engine.dispose(),
          () => {},
        );
      loads.clear();
    },
  };
}
