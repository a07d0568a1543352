// The continuous heatmap: a <canvas> laid over each Cornerstone viewport element, repainted
// on every render of that viewport from the stored map of the slice or MPR plane it
// displays. Placed with the host's own geometry (the map's corners in world coordinates —
// utilities.imageToWorldCoords for an image, the volume's geometry for a plane — then
// viewport.worldToCanvas), so zoom, pan, flip and rotation follow without any state of ours. Chosen over a second many-segment labelmap because it
// needs no host segmentation state (nothing the user's segmentation panel lists, nothing a
// mode change could leave behind), keeps the raw float values, and opacity is one canvas
// property. The binary labelmap at the threshold stays a real segmentation (labelmap.ts).
import { colormapLut, paintHeatmap } from '../overlay/colormap';
import type { HostLibraries } from './hostLibraries';
import type { HostCornerstoneViewport } from './hostTypes';
import { displayedView } from './readSlice';
import { planeWorldCorners, type PlaneSource } from './volumePlane';

/** The map's outer corners in world coordinates: first pixel's corner, end of the first row, end of the first column. */
export interface WorldCorners {
  origin: number[];
  alongRow: number[];
  alongColumn: number[];
}

/** What the overlay paints for one displayed image or plane. */
export interface OverlayContent {
  map: Float32Array;
  rows: number;
  columns: number;
  score: number;
  corners: WorldCorners;
}

/** An image's outer corners in world coordinates ((0,0) is the outer corner of the first pixel). */
export function imageWorldCorners(
  libraries: HostLibraries,
  imageId: string,
  rows: number,
  columns: number,
): WorldCorners | null {
  const toWorld = (x: number, y: number) => libraries.cornerstone.utilities.imageToWorldCoords(imageId, [x, y]);
  const origin = toWorld(0, 0);
  const alongRow = toWorld(columns, 0);
  const alongColumn = toWorld(0, rows);
  // No geometry for the image (its metadata is gone): nothing to place the map by.
  return origin && alongRow && alongColumn ? { origin, alongRow, alongColumn } : null;
}

export interface OverlaySettings {
  threshold: number;
  opacity: number;
  visible: boolean;
}

export interface OverlayDrawRecord {
  viewportId: string;
  /** The displayed image id, or the key of the displayed MPR plane. */
  imageId: string | null;
  /** Map pixels at or above the threshold that were painted (0 when nothing is shown). */
  paintedPixels: number;
  score: number | null;
}

/** A stored result as the overlay needs it: the map on its grid, and where it lies. */
export interface OverlayResult {
  map: Float32Array;
  rows: number;
  columns: number;
  score: number;
  /** The source image the map lies on, or a plane key (then `plane` is set). */
  imageId: string;
  plane?: PlaneSource;
}

/** What the overlay asks of its owner: the stored result for what a viewport displays, the settings. */
export interface OverlaySource {
  /** The stored result for `key` (image id or plane key) on the viewport; null when none. */
  resultFor(viewportId: string, key: string): OverlayResult | null;
  settings(): OverlaySettings;
  /** Called after each paint (e.g. to show the displayed slice's score in the panel). */
  onDraw(record: OverlayDrawRecord): void;
}

/** What the inspection hook reads of one viewport's overlay. */
export interface OverlayInspection {
  viewportId: string;
  attached: boolean;
  imageId: string | null;
  /** Map pixels painted at the last repaint (at or above the threshold). */
  paintedPixels: number;
  /** Canvas pixels with non-zero alpha, read back from the overlay canvas itself. */
  canvasOpaquePixels: number;
  opacity: number;
}

const CANVAS_CLASS = 'clue-heatmap-overlay';

interface Attached {
  element: HTMLElement;
  canvas: HTMLCanvasElement;
  onRender: () => void;
  viewport: HostCornerstoneViewport;
}

/**
 * Our canvases over the host's viewports. Viewports created later (layout change, new series)
 * get one too, from the host's ELEMENT_ENABLED event, once the first is attached.
 */
export class HeatmapOverlays {
  private readonly lut = colormapLut();
  private readonly attached = new Map<string, Attached>();
  private readonly draws = new Map<string, OverlayDrawRecord>();
  /** One offscreen image per slice size, reused across paints. */
  private scratch: { canvas: HTMLCanvasElement; image: ImageData } | null = null;
  private stopWatching: (() => void) | null = null;

  constructor(
    private readonly libraries: HostLibraries,
    private readonly source: OverlaySource,
  ) {}

  /** Makes sure the viewport has our canvas and repaints on its renders. */
  attach(viewport: HostCornerstoneViewport): void {
    this.watchNewViewports();
    const element = viewport.element;
    if (!element) return;
    const existing = this.attached.get(viewport.id);
    if (existing && existing.element === element && existing.canvas.isConnected) {
      existing.viewport = viewport;
      return;
    }
    if (existing) this.detach(viewport.id);
    const canvas = createOverlayCanvas(viewport.id);
    element.appendChild(canvas);
    const entry: Attached = { element, canvas, viewport, onRender: () => this.draw(viewport.id) };
    element.addEventListener(this.libraries.cornerstone.Enums.Events.IMAGE_RENDERED, entry.onRender);
    this.attached.set(viewport.id, entry);
    this.draw(viewport.id);
  }

  /** Repaints every attached viewport now (threshold/opacity changed, results changed). */
  redrawAll(): void {
    for (const [viewportId, entry] of this.attached) {
      if (!entry.element.isConnected) this.detach(viewportId);
      else this.draw(viewportId);
    }
  }

  /** Removes every canvas and listener. */
  detachAll(): void {
    for (const viewportId of [...this.attached.keys()]) this.detach(viewportId);
    this.stopWatching?.();
    this.stopWatching = null;
  }

  /** The last paint of a viewport and the canvas's opaque pixels, read back (for the inspection hook). */
  inspect(viewportId: string, opacity: number): OverlayInspection {
    return inspectOverlay(viewportId, this.attached.get(viewportId)?.canvas, this.draws.get(viewportId), opacity);
  }

  private watchNewViewports(): void {
    if (this.stopWatching) return;
    const { eventTarget, Enums, getEnabledElement } = this.libraries.cornerstone;
    const onEnabled = (event: Event) => {
      // Cornerstone enables viewports on <div> elements (its ELEMENT_ENABLED detail carries it).
      const element = (event as CustomEvent<{ element?: HTMLDivElement }>).detail?.element;
      const viewport = element ? getEnabledElement(element)?.viewport : undefined;
      if (viewport) this.attach(viewport);
    };
    eventTarget.addEventListener(Enums.Events.ELEMENT_ENABLED, onEnabled);
    this.stopWatching = () => eventTarget.removeEventListener(Enums.Events.ELEMENT_ENABLED, onEnabled);
  }

  private detach(viewportId: string): void {
    const entry = this.attached.get(viewportId);
    if (!entry) return;
    entry.element.removeEventListener(this.libraries.cornerstone.Enums.Events.IMAGE_RENDERED, entry.onRender);
    entry.canvas.remove();
    this.attached.delete(viewportId);
    this.draws.delete(viewportId);
  }

  /** What the viewport displays (image id or plane key) and its stored result, placed in the world. */
  private contentOf(viewport: HostCornerstoneViewport): { key: string | null; content: OverlayContent | null } {
    const view = displayedView(this.libraries, viewport);
    if (!view) return { key: null, content: null };
    const key = view.kind === 'image' ? view.imageId : view.key;
    const result = this.source.resultFor(viewport.id, key);
    if (!result) return { key, content: null };
    const corners = result.plane
      ? planeWorldCorners(result.plane.volume, result.plane.plane)
      : imageWorldCorners(this.libraries, result.imageId, result.rows, result.columns);
    if (!corners) return { key, content: null };
    return {
      key,
      content: { map: result.map, rows: result.rows, columns: result.columns, score: result.score, corners },
    };
  }

  private draw(viewportId: string): void {
    const entry = this.attached.get(viewportId);
    if (!entry) return;
    const { canvas, viewport, element } = entry;
    // Match the element's size in device pixels, so the overlay is as sharp as the image.
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(element.clientWidth * ratio));
    const height = Math.max(1, Math.round(element.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const { key, content } = this.contentOf(viewport);
    const settings = this.source.settings();
    let record: OverlayDrawRecord = { viewportId, imageId: key, paintedPixels: 0, score: content?.score ?? null };
    if (content && key && settings.visible) {
      const painted = this.paint(ctx, viewport, content, settings, ratio);
      record = { viewportId, imageId: key, paintedPixels: painted, score: content.score };
    }
    this.draws.set(viewportId, record);
    this.source.onDraw(record);
  }

  /** Paints the map at the viewport's geometry, and the score in its corner. Returns the pixels painted. */
  private paint(
    ctx: CanvasRenderingContext2D,
    viewport: HostCornerstoneViewport,
    content: OverlayContent,
    settings: OverlaySettings,
    ratio: number,
  ): number {
    const { canvas: source, image } = this.scratchFor(content.columns, content.rows);
    const painted = paintHeatmap(content.map, settings.threshold, image.data, this.lut);
    source.getContext('2d')!.putImageData(image, 0, 0);
    // The map's corners in canvas (CSS) pixels.
    const origin = viewport.worldToCanvas(content.corners.origin);
    const alongRow = viewport.worldToCanvas(content.corners.alongRow);
    const alongColumn = viewport.worldToCanvas(content.corners.alongColumn);
    ctx.setTransform(
      (ratio * (alongRow[0] - origin[0])) / content.columns,
      (ratio * (alongRow[1] - origin[1])) / content.columns,
      (ratio * (alongColumn[0] - origin[0])) / content.rows,
      (ratio * (alongColumn[1] - origin[1])) / content.rows,
      ratio * origin[0],
      ratio * origin[1],
    );
    ctx.imageSmoothingEnabled = false; // one map value per image pixel, like the labelmap
    ctx.globalAlpha = Math.min(1, Math.max(0, settings.opacity));
    ctx.drawImage(source, 0, 0);
    ctx.globalAlpha = 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    // The score travels with the slice: drawn in the viewport's corner.
    const { width, height } = ctx.canvas;
    ctx.font = `${Math.round(13 * ratio)}px sans-serif`;
    ctx.fillStyle = '#ffd27f';
    ctx.textAlign = 'right';
    ctx.fillText(`CLUE score ${content.score.toFixed(3)}`, width - 10 * ratio, height - 30 * ratio);
    return painted;
  }

  private scratchFor(columns: number, rows: number) {
    if (!this.scratch || this.scratch.image.width !== columns || this.scratch.image.height !== rows) {
      const canvas = document.createElement('canvas');
      canvas.width = columns;
      canvas.height = rows;
      this.scratch = { canvas, image: new ImageData(columns, rows) };
    }
    return this.scratch;
  }
}

/** What the inspection hook reports of a viewport's overlay (no canvas: not attached, nothing painted). */
export function inspectOverlay(
  viewportId: string,
  canvas: HTMLCanvasElement | undefined,
  draw: OverlayDrawRecord | undefined,
  opacity: number,
): OverlayInspection {
  let canvasOpaquePixels = 0;
  if (canvas && canvas.width > 0 && canvas.height > 0) {
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) canvasOpaquePixels++;
  }
  return {
    viewportId,
    attached: Boolean(canvas?.isConnected),
    imageId: draw?.imageId ?? null,
    paintedPixels: draw?.paintedPixels ?? 0,
    canvasOpaquePixels,
    opacity,
  };
}

/** Above the image, under the annotation SVG layer; never takes the mouse. */
function createOverlayCanvas(viewportId: string): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.className = CANVAS_CLASS;
  canvas.dataset.testid = 'clue-heatmap-overlay';
  canvas.dataset.viewportId = viewportId;
  Object.assign(canvas.style, {
    position: 'absolute',
    left: '0',
    top: '0',
    width: '100%',
    height: '100%',
    pointerEvents: 'none',
    zIndex: '1',
  });
  return canvas;
}
