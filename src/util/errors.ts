// Errors the training loop acts on by type, never by message text.

/**
 * A loss or a gradient came out NaN or infinite. Thrown before the weights
 * change, so the phase can stop with its last good checkpoint intact.
 */
export class NonFiniteError extends RangeError {
  constructor(
    readonly quantity: 'loss' | 'gradient',
    readonly value: number,
    message: string,
  ) {
    super(message);
    this.name = 'NonFiniteError';
  }
}
