// Typed errors for bad inputs. An image error names the file and one of a
// fixed set of kinds, so the loader can count and list them and `cskd data
// check` can group them; a label error names file:line.

export const IMAGE_ERROR_KINDS = ['missing', 'zero-byte', 'truncated', 'not-an-image', 'too-large', 'unreadable'] as const;
export type ImageErrorKind = (typeof IMAGE_ERROR_KINDS)[number];

export class ImageFileError extends Error {
  override readonly name = 'ImageFileError';
  constructor(
    readonly file: string,
    readonly kind: ImageErrorKind,
    readonly detail: string,
  ) {
    super(`${file}: ${kind}: ${detail}`);
  }
}

/** One problem in a label file; `line` is 1-based (0 when the problem is the file as a whole). */
export interface LabelIssue {
  file: string;
  line: number;
  message: string;
}

export function formatLabelIssue(e: LabelIssue): string {
  return e.line > 0 ? `${e.file}:${e.line}: ${e.message}` : `${e.file}: ${e.message}`;
}

/** Thrown when a label file cannot be used at all (missing, unreadable, no usable rows). */
export class LabelFileError extends Error {
  override readonly name = 'LabelFileError';
  constructor(
    readonly issues: LabelIssue[],
  ) {
    super(issues.map(formatLabelIssue).join('\n'));
  }
}
