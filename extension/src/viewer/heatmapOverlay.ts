// The continuous heatmap: a <canvas> laid over each Cornerstone viewport element, repainted
// on every render of that viewport from the stored map of the slice or MPR plane it
// displays. Placed with the host's own geometry (the map's corners in world coordinates —
// utilities.imageToWorldCoords for an image, the volume's geometry for a plane — then
// viewport.worldToCanvas), so zoom, pan, flip and rotation follow without any state of ours. Chosen over a second many-segment labelmap because it
// needs no host segmentation state (nothing the user's segmentation panel lists, nothing a
// mode change could leave behind), keeps the raw float values, and opacity is one canvas
// property. The binary labelmap at the threshold stays a real segmentation (labelmap.ts).
import { colormapLut, paintHeatmap } from '../workflow/colormap';
import type { HostLibraries } from './hostLibraries';
import type { HostCornerstoneViewport } from './hostTypes';

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

/** What a viewport displays (image id or plane key) and the stored result to paint on it, if any. */
export interface OverlayView {
  key: string;
  content: OverlayContent | null;
}

/** An image's outer corners in world coordinates ((0,0) is the outer corner of the first pixel). */
export function imageWorldCorners(
  libraries: HostLibraries,
  imageId: string,
  rows: number,
  columns: number,
): WorldCorners {
  const toWorld = (x: number, y: number) => libraries.cornerstone.utilities.imageToWorldCoords(imageId, [x, y]);
  return { origin: toWorld(0, 0), alongRow: toWorld(columns, 0), alongColumn: toWorld(0, rows) };
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
  /** What the viewport displays and its stored result; null when it displays nothing we key. */
  viewFor(viewport: HostCornerstoneViewport): OverlayView | null;
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

    const view = args.viewFor(viewport);
    const imageId = view?.key ?? null;
    const settings = args.settings();
    const content = view?.content ?? null;
    let record: OverlayDrawRecord = { viewportId, imageId, paintedPixels: 0, score: content?.score ?? null };
    if (content && imageId && settings.visible) {
      const { canvas: source, image } = scratchFor(content.columns, content.rows);
      const painted = paintHeatmap(content.map, settings.threshold, image.data, lut);
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
      position: 'absolute',
      left: '0',
      top: '0',
      width: '100%',
      height: '100%',
      pointerEvents: 'none',
      zIndex: '1',
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
