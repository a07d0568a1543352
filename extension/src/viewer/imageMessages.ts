// What the panel says about an image the viewer cannot hand to the model: too small or too
// large, an undecodable transfer syntax, a failed load, colour. Pure sentences and checks.
import { ClueInputError } from '../errors';

/** Slices we run on: bounded so a huge image cannot stall the worker or exhaust memory. */
export const SLICE_LIMITS = Object.freeze({
  /** Largest side in pixels (4096: the largest common radiography detector matrices). */
  maxSide: 4096,
  /** Smallest side in pixels: below this a slice carries too little to map. */
  minSide: 16,
});

/** Throws a ClueInputError for a slice outside SLICE_LIMITS. */
export function checkSliceSize(rows: number, columns: number): void {
  const { maxSide, minSide } = SLICE_LIMITS;
  if (rows > maxSide || columns > maxSide) {
    throw new ClueInputError(
      `The displayed image is ${rows}×${columns} pixels; CLUE runs on images of at most ${maxSide}×${maxSide}.`,
    );
  }
  if (rows < minSide || columns < minSide) {
    throw new ClueInputError(
      `The displayed image is only ${rows}×${columns} pixels; CLUE needs at least ${minSide}×${minSide}.`,
    );
  }
}

/** The host has no decoder for the image's transfer syntax: waiting will not help, re-sending will. */
export function undecodableTransferSyntaxMessage(what: string, uid: string, name: string | undefined): string {
  const syntax = name ? `${name} (${uid})` : uid;
  return `The ${what} is stored with transfer syntax ${syntax}, which the viewer cannot decode; re-send it from the PACS in another transfer syntax (e.g. Explicit VR Little Endian).`;
}

/**
 * The host's loader tried and failed to load the image (e.g. the server refused its frames,
 * or the decoder rejected them): waiting will not help. `syntax` is the name and UID of its
 * transfer syntax when the instance metadata has one, `detail` what the loader said.
 */
export function imageLoadFailedMessage(what: string, syntax: string | undefined, detail: string | undefined): string {
  const stored = syntax ? ` (stored with transfer syntax ${syntax})` : '';
  const why = detail ? `: ${detail}` : '';
  return `The viewer could not load or decode the ${what}${stored}${why}. Waiting will not help; have the PACS send it in another transfer syntax (e.g. Explicit VR Little Endian).`;
}

/**
 * A colour image: palette colour is named as such (the host turns its palette indices into
 * RGB, so it would otherwise read as "3 components"); other colour images keep their count.
 */
export function colourImageMessage(
  what: string,
  photometricInterpretation: string | undefined,
  components: number,
): string {
  if (photometricInterpretation === 'PALETTE COLOR') {
    return `The ${what} is a palette colour (PALETTE COLOR) image, which is not supported: the model reads greyscale (MONOCHROME1 or MONOCHROME2) slices.`;
  }
  const stored = photometricInterpretation ? `, not ${photometricInterpretation}` : '';
  return `The ${what} is a colour image (${components} components); CLUE needs greyscale (MONOCHROME1 or MONOCHROME2)${stored}.`;
}
