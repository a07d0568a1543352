// The continuous heatmap: a <canvas> laid over each Cornerstone viewport element, repainted
// on every render of that viewport from the stored map of the slice it displays. Placed
// with the host's own geometry (image corners → world → canvas through
// utilities.imageToWorldCoords and viewport.worldToCanvas), so zoom, pan, flip and rotation
// follow without any state of ours. Chosen over a second many-segment labelmap because it
// needs no host segmentation state (nothing the user's segmentation panel lists, nothing a
// mode change could leave behind), keeps the raw float values, and opacity is one canvas
// property. The binary labelmap at the threshold stays a real segmentation (labelmap.ts).
import { colormapLut, paintHeatmap } from '../workflow/colormap';
import type { HostLibraries } from './hostLibraries';
import type { HostCornerstoneViewport } from './hostTypes';

/** What the overlay paints for one displayed image (null: nothing for that image). */
export interface OverlayContent {
  map: Float32Array;
  rows: number;
  columns: number;
  score: number;
}

export interface OverlaySettings {
  threshold: number;
  opacity: number;
  visible: boolean;
}

export interface OverlayDrawRecord {
  viewportId: string;
  imageId: string | null;
  /** Map pixels at or above the threshold that were painted (0 when nothing is shown). */
  paintedPixels: number;
  score: number | null;
}

export interface HeatmapOverlays {
  /** Makes sure the viewport has our canvas and repaints on its renders. */
  attach(viewport: HostCornerstoneViewport): void;
  /** Repaints every attached viewport now (threshold/opacity changed, results changed). */
  redrawAll(): void;
  /** The last paint of a viewport (for the inspection hook). */
  lastDraw(viewportId: string): OverlayDrawRecord | undefined;
  /** The overlay canvas of a viewport, if attached. */
  canvasOf(viewportId: string): HTMLCanvasElement | undefined;
  /** Removes every canvas and listener. */
  detachAll(): void;
}

const CANVAS_CLASS = 'clue-heatmap-overlay';

interface Attached {
  element: HTMLElement;
  canvas: HTMLCanvasElement;
  onRender: () => void;
  viewport: HostCornerstoneViewport;
}

export function createHeatmapOverlays(args: {
  libraries: HostLibraries;
  /** The stored result for the image a viewport displays, or null. */
  contentFor(viewportId: string, imageId: string): OverlayContent | null;
  settings(): OverlaySettings;
  /** Called after each paint (e.g. to show the displayed slice's score in the panel). */
  onDraw?(record: OverlayDrawRecord): void;
}): HeatmapOverlays {
  const { cornerstone } = args.libraries;
  const lut = colormapLut();
  const attached = new Map<string, Attached>();
  const draws = new Map<string, OverlayDrawRecord>();
  // One offscreen image per slice size, reused across paints.
  let scratch: { canvas: HTMLCanvasElement; image: ImageData } | null = null;

  function scratchFor(columns: number, rows: number) {
    if (!scratch || scratch.image.width !== columns || scratch.image.height !== rows) {
      const canvas = document.createElement('canvas');
      canvas.width = columns;
      canvas.height = rows;
      scratch = { canvas, image: new ImageData(columns, rows) };
    }
    return scratch;
  }

  function draw(viewportId: string): void {
    const entry = attached.get(viewportId);
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

    const imageId = viewport.getCurrentImageId?.() ?? null;
    const settings = args.settings();
    const content = imageId ? args.contentFor(viewportId, imageId) : null;
    let record: OverlayDrawRecord = { viewportId, imageId, paintedPixels: 0, score: content?.score ?? null };
    if (content && imageId && settings.visible) {
      const { canvas: source, image } = scratchFor(content.columns, content.rows);
      const painted = paintHeatmap(content.map, settings.threshold, image.data, lut);
      source.getContext('2d')!.putImageData(image, 0, 0);
      // Image corners in canvas (CSS) pixels: (0,0) is the outer corner of the first pixel.
      const toCanvas = (x: number, y: number) =>
        viewport.worldToCanvas(cornerstone.utilities.imageToWorldCoords(imageId, [x, y]));
      const origin = toCanvas(0, 0);
      const alongRow = toCanvas(content.columns, 0);
      const alongColumn = toCanvas(0, content.rows);
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
      ctx.font = `${Math.round(13 * ratio)}px sans-serif`;
      ctx.fillStyle = '#ffd27f';
      ctx.textAlign = 'right';
      ctx.fillText(`CLUE score ${content.score.toFixed(3)}`, width - 10 * ratio, height - 30 * ratio);
      record = { viewportId, imageId, paintedPixels: painted, score: content.score };
    }
    draws.set(viewportId, record);
    args.onDraw?.(record);
  }

  function attach(viewport: HostCornerstoneViewport): void {
    const element = viewport.element;
    if (!element) return;
    const existing = attached.get(viewport.id);
    if (existing && existing.element === element && existing.canvas.isConnected) {
      existing.viewport = viewport;
      return;
    }
    if (existing) detach(viewport.id);
    const canvas = document.createElement('canvas');
    canvas.className = CANVAS_CLASS;
    canvas.dataset.testid = 'clue-heatmap-overlay';
    canvas.dataset.viewportId = viewport.id;
    // Above the image, under the annotation SVG layer; never takes the mouse.
    Object.assign(canvas.style, {
      position: 'absolute', left: '0', top: '0', width: '100%', height: '100%', pointerEvents: 'none', zIndex: '1',
    });
    element.appendChild(canvas);
    const entry: Attached = { element, canvas, viewport, onRender: () => draw(viewport.id) };
    element.addEventListener(cornerstone.Enums.Events.IMAGE_RENDERED, entry.onRender);
    attached.set(viewport.id, entry);
    draw(viewport.id);
  }

  function detach(viewportId: string): void {
    const entry = attached.get(viewportId);
    if (!entry) return;
    entry.element.removeEventListener(cornerstone.Enums.Events.IMAGE_RENDERED, entry.onRender);
    entry.canvas.remove();
    attached.delete(viewportId);
    draws.delete(viewportId);
  }

  return {
    attach,
    redrawAll() {
      for (const [viewportId, entry] of attached) {
        if (!entry.element.isConnected) detach(viewportId);
        else draw(viewportId);
      }
    },
    lastDraw: (viewportId) => draws.get(viewportId),
    canvasOf: (viewportId) => attached.get(viewportId)?.canvas,
    detachAll() {
      for (const viewportId of [...attached.keys()]) detach(viewportId);
    },
  };
}
