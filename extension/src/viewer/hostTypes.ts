// The few OHIF / Cornerstone APIs we use, typed by us as narrow views of the host. OHIF
// publishes no usable type definitions (its `types` point at unpublished sources);
// Cornerstone does, and tests/unit/viewer/hostTypes.conformance.ts has tsc check that the
// published @cornerstonejs/core and /tools 5.6.8 (the host's, OHIF 3.13.2 and 3.14.0-beta.6)
// are assignable to HostCornerstone and HostCornerstoneTools, so API drift fails the type
// check. Only viewer/ and the mode use these.

export interface PubSubSubscription {
  unsubscribe(): void;
}

export interface HostVoxelManager {
  /** A colour image's voxel is its RGB triple; greyscale images and labelmaps give numbers. */
  getAtIndex(index: number): number | ArrayLike<number> | undefined;
  /** Typed `never` here because the host's own type differs per image kind: see thresholdMask.ts. */
  setAtIndex(index: number, value: never): unknown;
  getScalarData(): ArrayLike<number>;
  getScalarDataLength?(): number;
}

/** A cached Cornerstone image (IImage), the parts we read. */
export interface HostImage {
  imageId: string;
  rows: number;
  columns: number;
  width?: number;
  height?: number;
  color?: boolean;
  rgba?: boolean;
  numberOfComponents?: number;
  slope?: number;
  intercept?: number;
  /** Set by the DICOM image loader when it applied the modality LUT while decoding. */
  preScale?: {
    scaled?: boolean;
    scalingParameters?: { rescaleSlope?: number; rescaleIntercept?: number; modality?: string };
  };
  voxelManager?: HostVoxelManager;
  /** On derived (labelmap) images: the source image this one was derived from. */
  referencedImageId?: string;
  getPixelData?(): ArrayLike<number>;
}

export interface HostStackViewport {
  id: string;
  type: string;
  /** The viewport's DOM element (where the heatmap canvas goes). */
  element?: HTMLElement;
  /** Stack: the displayed image. Volume: the source image nearest the focal point, only when the view is along the acquisition. */
  getCurrentImageId(): string | undefined;
  /** The stack's image ids, in display order (stack viewports). */
  getImageIds?(): string[];
  worldToCanvas(world: number[]): [number, number];
  render(): void;
  /** Volume viewports: the camera (Cornerstone's viewPlaneNormal points at the viewer). */
  getCamera?(): HostCamera;
  /** Volume viewports: the displayed volume. */
  getVolumeId?(): string | undefined;
  getAllVolumeIds?(): string[];
}

export interface HostCamera {
  viewPlaneNormal?: number[];
  viewUp?: number[];
  focalPoint?: number[];
  position?: number[];
}

/** A cached Cornerstone image volume (IImageVolume), the parts we read. */
export interface HostImageVolume {
  volumeId: string;
  dimensions: number[];
  spacing: number[];
  origin: number[];
  /** Row-major 3×3: world directions of the i, j, k axes. */
  direction: ArrayLike<number>;
  /** Source image of each k index (sorted along the volume's k axis). */
  imageIds: string[];
  numberOfComponents?: number;
  loadStatus?: { loaded?: boolean; loading?: boolean };
}

/** Any Cornerstone viewport, as far as the overlay is concerned. */
export type HostCornerstoneViewport = HostStackViewport;

export interface HostCornerstone {
  /** @cornerstonejs/core's version (its ESM namespace exports it). */
  version?: string;
  cache: {
    getImage(imageId: string): HostImage | undefined;
    getVolume?(volumeId: string): HostImageVolume | undefined;
  };
  metaData: {
    get(type: string, imageId: string): unknown;
  };
  imageLoader: {
    loadAndCacheImage(imageId: string): Promise<HostImage>;
  };
  utilities: {
    /** Image coordinates ([column, row], (0,0) = outer corner of the first pixel) → world. */
    imageToWorldCoords(imageId: string, imageCoords: [number, number]): number[] | undefined;
  };
  /** Cornerstone's global event target (ELEMENT_ENABLED and friends fire here). */
  eventTarget: EventTarget;
  getEnabledElement(element: HTMLDivElement): { viewport?: HostStackViewport } | undefined;
  Enums: {
    ViewportType: { STACK: string; ORTHOGRAPHIC?: string };
    Events: { IMAGE_RENDERED: string; ELEMENT_ENABLED: string };
  };
}

export interface HostSegmentation {
  segmentationId: string;
  label?: string;
  /** Segment index → its description (OHIF 3.9+). */
  segments?: Record<string, { segmentIndex?: number; label?: string } | null | undefined>;
  representationData: {
    Labelmap?: { imageIds?: string[]; referencedImageIds?: string[]; volumeId?: string };
  };
}

export interface HostCornerstoneTools {
  Enums: { SegmentationRepresentations: { Labelmap: string } };
  segmentation: {
    triggerSegmentationEvents: { triggerSegmentationDataModified(segmentationId: string): void };
  };
}

export interface HostDisplaySet {
  displaySetInstanceUID: string;
  imageIds?: string[];
  Modality?: string;
  SeriesNumber?: number | string;
  SeriesDescription?: string;
  isMultiFrame?: boolean;
  unsupported?: boolean;
  StudyInstanceUID?: string;
  SeriesInstanceUID?: string;
  SOPInstanceUID?: string;
  SOPClassUID?: string;
  /** The instance's metadata (a SEG's SegmentSequence among it). */
  instance?: Record<string, unknown>;
}

export interface HostSegmentationService {
  createLabelmapForDisplaySet(
    displaySet: HostDisplaySet,
    options: {
      segmentationId: string;
      label: string;
      segments: Record<number, { label: string; active?: boolean }>;
    },
  ): Promise<string>;
  addSegmentationRepresentation(viewportId: string, options: { segmentationId: string; type?: string }): Promise<void>;
  getSegmentation(segmentationId: string): HostSegmentation | undefined;
  getSegmentations(): HostSegmentation[];
  getSegmentationRepresentations(
    viewportId: string,
    specifier?: { segmentationId?: string; type?: string },
  ): Array<{ segmentationId: string; type: string }>;
  setSegmentColor(viewportId: string, segmentationId: string, segmentIndex: number, color: number[]): void;
  /** Cornerstone's segmentation style for a representation (OHIF 3.9+). */
  setStyle?(
    specifier: { viewportId?: string; segmentationId?: string; type: string },
    style: Record<string, unknown>,
  ): void;
  remove(segmentationId: string): void;
  /** OHIF's pub/sub: SEGMENTATION_REMOVED carries `{ segmentationId }` (3.12–3.14). */
  EVENTS: { SEGMENTATION_REMOVED: string } & Record<string, string>;
  subscribe(eventName: string, callback: (event: { segmentationId?: string }) => void): PubSubSubscription;
}

export interface HostViewportGridService {
  getActiveViewportId(): string | undefined;
  getState(): {
    activeViewportId?: string;
    viewports: Map<string, { displaySetInstanceUIDs?: string[] }>;
  };
}

export interface HostServices {
  segmentationService: HostSegmentationService & { destroy?(): void };
  viewportGridService: HostViewportGridService;
  cornerstoneViewportService: {
    getCornerstoneViewport(viewportId: string): HostStackViewport | null | undefined;
    destroy?(): void;
  };
  displaySetService: {
    getDisplaySetByUID(uid: string): HostDisplaySet | undefined;
    /** The display sets of the studies open in the viewer. */
    getActiveDisplaySets?(): HostDisplaySet[];
  };
  /** Headers the data source needs (e.g. a bearer token), as OHIF's own SEG loader sends them. */
  userAuthenticationService?: { getAuthorizationHeader?(): Record<string, string> | undefined };
  uiNotificationService?: {
    show(options: {
      title: string;
      message: string;
      type?: 'error' | 'info' | 'success' | 'warning';
      duration?: number;
    }): void;
  };
  toolbarService: {
    register(buttons: unknown[]): void;
    updateSection(section: string, buttonIds: string[]): void;
    sections: { primary: string } & Record<string, unknown>;
  };
  toolGroupService: {
    createToolGroupAndAddTools(toolGroupId: string, tools: unknown): unknown;
    destroy(): void;
  };
  customizationService: {
    setCustomizations(customizations: Record<string, unknown>, scope?: string): void;
  };
  syncGroupService?: { destroy(): void };
}

export interface HostServicesManager {
  services: HostServices & Record<string, unknown>;
  /** Creates the service through `create` and puts it in `services[name]` (OHIF's ServicesManager). */
  registerService?(registration: {
    name: string;
    altName?: string;
    create(params: Pick<HostExtensionParams, 'servicesManager' | 'extensionManager' | 'commandsManager'>): unknown;
  }): void;
}

export interface HostModuleEntry<T> {
  exports: T;
}

export interface HostDataSourceDefinition {
  sourceName?: string;
  namespace?: string;
  configuration?: {
    wadoRoot?: string;
    qidoRoot?: string;
    stowRoot?: string;
    supportsStow?: boolean;
    readOnly?: boolean;
  } & Record<string, unknown>;
}

export interface HostExtensionManager {
  getModuleEntry(entry: string): HostModuleEntry<unknown> | undefined;
  /** The data source the study came from (OHIF 3.x: { sourceName, namespace, configuration }). */
  getActiveDataSourceDefinition?(): HostDataSourceDefinition | undefined;
}

export interface HostCommandsManager {
  runCommand(name: string, options?: Record<string, unknown>, context?: string): unknown;
}

/** What the host passes to preRegistration and the get*Module functions. */
export interface HostExtensionParams {
  servicesManager: HostServicesManager;
  extensionManager: HostExtensionManager;
  commandsManager: HostCommandsManager;
  appConfig?: unknown;
  configuration?: unknown;
}
