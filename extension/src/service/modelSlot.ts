// The model behind the map: loaded for the configured URL on the first run, then reused; its
// loading progress, backend and identity are written to the state for the panel.
import { EngineError } from '../engine/errors';
import { messageForUser } from '../errors';
import { engineErrorMessage } from './messages';
import { isAbortError, type MapperRegistry, type SliceMapper } from './sliceMapper';
import { initialModelState, type ClueStore, type ModelState } from './state';

export class ModelSlot {
  /** Bumped by dispose: a load that finishes after it must not mark the model ready. */
  private generation = 0;

  constructor(
    private readonly state: ClueStore,
    private readonly registry: MapperRegistry,
    /** Called with the manifest's default threshold when a model becomes ready. */
    private readonly onManifestThreshold: (threshold: number) => void,
  ) {}

  /** The model for the configured URL (loading it on first use). */
  async load(): Promise<SliceMapper> {
    const { modelUrl: url, allowSoftwareGpu, modelVariant } = this.state.getState().config;
    const generation = this.generation;
    if (this.model.status !== 'ready' || this.model.url !== url) {
      this.update({ ...initialModelState(url), status: 'loading', phase: 'manifest' });
    }
    try {
      const mapper = await this.registry.get(
        url,
        (p) => this.update({ phase: p.phase, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes }),
        { allowSoftwareGpu },
        modelVariant ?? 'auto',
      );
      if (generation !== this.generation) throw new EngineError('disposed', 'the model was unloaded while it loaded');
      if (this.model.status !== 'ready') this.becameReady(mapper);
      return mapper;
    } catch (error) {
      // After dispose the state belongs to the next load: a late failure leaves it alone.
      if (generation === this.generation && !isAbortError(error)) {
        this.update({ status: 'error', phase: null, error: engineErrorMessage(error, url) ?? messageForUser(error) });
      }
      throw error;
    }
  }

  /** Stops every worker (mode exit): the model's memory goes back to the browser. */
  dispose(): void {
    this.generation++;
    this.registry.disposeAll();
    this.state.setState((s) => ({ model: initialModelState(s.config.modelUrl) }));
  }

  private get model(): ModelState {
    return this.state.getState().model;
  }

  private update(update: Partial<ModelState>): void {
    this.state.setState((s) => ({ model: { ...s.model, ...update } }));
  }

  private becameReady(mapper: SliceMapper): void {
    const info = mapper.info;
    this.update({
      status: 'ready',
      phase: null,
      modelId: info.modelId,
      modelVersion: info.modelVersion,
      domain: info.manifest.domain ?? null,
      sha256: info.sha256,
      variant: info.variant ? { ...info.variant } : null,
      backend: info.backend,
      threads: info.threads,
      skipped: info.skipped.map((s) => ({ backend: s.backend, reason: s.reason })),
      fromCache: info.fromCache,
      networkBytes: info.networkBytes,
      modelBytes: info.modelBytes,
      loadMs: Math.round(info.totalMs),
      cacheProblem: info.cacheProblem,
      error: null,
    });
    const manifestThreshold = info.manifest.threshold?.default;
    if (typeof manifestThreshold === 'number' && manifestThreshold >= 0 && manifestThreshold <= 1) {
      this.onManifestThreshold(manifestThreshold);
    }
  }
}
