// The non-finite check of a training step without a synchronisation per op.
//
// On a device, each watched tensor (a loss scalar, a gradient buffer) gets one
// enqueued kernel that raises a flag in device memory when it holds a NaN or
// an infinity; the host reads the flag once, at check(), before the optimizer
// touches the weights. On the CPU the same calls scan the values at once, so
// a phase loop is written once for both.
import { native } from '../native.js';
import { expectSameDevice } from '../tensor/check.js';
import { type Device, parseDevice } from '../tensor/device_memory.js';
import { Tensor } from '../tensor/tensor.js';
import { NonFiniteError } from '../util/errors.js';

export class FiniteCheck {
  readonly device: Device;
  readonly #flag: Tensor | null;
  #watched: string[] = [];
  #hostBad: string | null = null;

  constructor(device: Device | 'cuda' = 'cpu') {
    this.device = parseDevice(device);
    this.#flag = this.device === 'cpu' ? null : Tensor.zeros([1], this.device);
  }

  /** Adds `t` to this step's check; `what` names it in the error ("emdLoss", "gradient"). */
  watch(what: string, t: Tensor): void {
    const device = expectSameDevice('FiniteCheck.watch', { [what]: t });
    if (device !== this.device) throw new TypeError(`FiniteCheck.watch: ${what} is on ${device}, the check on ${this.device}`);
    this.#watched.push(what);
    const flag = this.#flag;
    if (flag === null) {
      if (this.#hostBad === null && t.data.some((v) => !Number.isFinite(v))) this.#hostBad = what;
      return;
    }
    native.flagNonFinite(t.storage, t.size, flag.storage);
  }

  /**
   * Reads the flag (on a device, the one synchronisation this costs), clears
   * it for the next step, and throws NonFiniteError when anything watched
   * since the last check held a NaN or an infinity.
   */
  check(): void {
    const watched = this.#watched;
    this.#watched = [];
    let bad: boolean;
    if (this.#flag === null) {
      bad = this.#hostBad !== null;
      this.#hostBad = null;
    } else {
      bad = (this.#flag.copyToHost()[0] ?? 0) !== 0;
      if (bad) this.#flag.fill(0);
    }
    if (bad) {
      throw new NonFiniteError('loss', NaN, `non-finite value on ${this.device} in ${watched.join(', ') || 'nothing watched'}; the step is stopped before the update`);
    }
  }
}
