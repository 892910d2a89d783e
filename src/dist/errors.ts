// Errors of the communicator, by type.

/**
 * A collective failed. `everyRank` is true when every rank reached the same
 * verdict at the same collective (a mismatch), so the job can shut down in
 * order; otherwise the other ranks may still wait and the job must be aborted.
 */
export class DistError extends Error {
  constructor(
    message: string,
    readonly everyRank: boolean,
  ) {
    super(message);
    this.name = 'DistError';
  }
}
