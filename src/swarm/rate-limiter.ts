/**
 * A global rate limit (bytes per second) as a token bucket that may go into debt: every byte sent or received is
 * charged, and while the balance is negative the user of the limit holds off (stops sending blocks, or stops reading
 * its sockets) until refill brings it back. Bursts are bounded by the bucket's depth; over any few seconds the rate
 * holds to the limit. The clock and timers are injectable for tests.
 */

/** Bucket depth: a quarter of a second of the rate (at least one 16 KiB block), so bursts stay short. */
const DEPTH_SECONDS = 0.25
const MIN_DEPTH_BYTES = 16 * 1024

export interface LimiterClock {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
}

// The timer is not unref'd: a paused socket keeps no event loop alive, so while everything waits for budget this
// timer is what does (a GET_CHUNK-only download would otherwise exit mid-way).
const realClock: LimiterClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms)
}

export class RateLimiter {
  /** Bytes per second; 0 or Infinity means no limit. */
  readonly rate: number
  readonly #depth: number
  readonly #clock: LimiterClock
  #balance: number
  #last: number
  #waiters: Array<{ fn: () => void, atLeast: number }> = []
  #timerSet = false

  constructor (bytesPerSecond: number, clock: LimiterClock = realClock) {
    this.rate = bytesPerSecond > 0 && Number.isFinite(bytesPerSecond) ? bytesPerSecond : 0
    this.#depth = Math.max(MIN_DEPTH_BYTES, this.rate * DEPTH_SECONDS)
    this.#clock = clock
    this.#balance = this.#depth
    this.#last = clock.now()
  }

  get limited (): boolean {
    return this.rate > 0
  }

  /** Charge `bytes` that were (or are about to be) moved. */
  charge (bytes: number): void {
    if (!this.limited) return
    this.#refill()
    this.#balance -= bytes
  }

  /** May more bytes move now? */
  available (): boolean {
    if (!this.limited) return true
    this.#refill()
    return this.#balance > 0
  }

  /**
   * Call `fn` once the balance is positive again (at once if it is); with `atLeast`, once it holds that many bytes
   * (at most the bucket's depth), so that what waits moves in bursts of that size rather than a block per timer.
   */
  whenAvailable (fn: () => void, atLeast = 0): void {
    const need = Math.min(atLeast, this.#depth / 2)
    if (this.available() && this.#balance >= need) { fn(); return }
    this.#waiters.push({ fn, atLeast })
    if (this.#timerSet) return
    this.#timerSet = true
    const wait = Math.max(1, Math.ceil((need - this.#balance + 1) * 1000 / this.rate))
    this.#clock.setTimeout(() => {
      this.#timerSet = false
      const waiters = this.#waiters
      this.#waiters = []
      for (const w of waiters) this.whenAvailable(w.fn, w.atLeast)
    }, wait)
  }

  #refill (): void {
    const now = this.#clock.now()
    this.#balance = Math.min(this.#depth, this.#balance + (now - this.#last) * this.rate / 1000)
    this.#last = now
  }
}
