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

/** What a transfer needs of a limit: one RateLimiter, or a torrent's own limit under the session's (LimitPair). */
export interface Limit {
  readonly limited: boolean
  charge: (bytes: number) => void
  available: () => boolean
  whenAvailable: (fn: () => void, atLeast?: number) => void
}

export class RateLimiter implements Limit {
  #rate: number
  #depth: number
  readonly #clock: LimiterClock
  #balance: number
  #last: number
  #waiters: Array<{ fn: () => void, atLeast: number }> = []
  #timerSet = false

  constructor (bytesPerSecond: number, clock: LimiterClock = realClock) {
    this.#rate = 0
    this.#depth = MIN_DEPTH_BYTES
    this.#clock = clock
    this.#last = clock.now()
    this.setRate(bytesPerSecond)
    this.#balance = this.#depth
  }

  /** Bytes per second; 0 means no limit. */
  get rate (): number {
    return this.#rate
  }

  /** Change the limit (0 or Infinity: none) while in use; whoever waits is woken at the new rate. */
  setRate (bytesPerSecond: number): void {
    this.#refill()
    this.#rate = bytesPerSecond > 0 && Number.isFinite(bytesPerSecond) ? bytesPerSecond : 0
    this.#depth = Math.max(MIN_DEPTH_BYTES, this.#rate * DEPTH_SECONDS)
    this.#balance = Math.min(this.#balance, this.#depth)
    if (!this.limited) this.#wake()
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
    if (!this.limited) { fn(); return }
    const need = Math.min(atLeast, this.#depth / 2)
    if (this.available() && this.#balance >= need) { fn(); return }
    this.#waiters.push({ fn, atLeast })
    if (this.#timerSet) return
    this.#timerSet = true
    const wait = Math.max(1, Math.ceil((need - this.#balance + 1) * 1000 / this.#rate))
    this.#clock.setTimeout(() => {
      this.#timerSet = false
      this.#wake()
    }, wait)
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) this.whenAvailable(w.fn, w.atLeast)
  }

  #refill (): void {
    const now = this.#clock.now()
    if (this.#rate > 0) this.#balance = Math.min(this.#depth, this.#balance + (now - this.#last) * this.#rate / 1000)
    this.#last = now
  }
}

/**
 * A torrent's own limit under the session's global one: bytes are charged to both, and move only while both have
 * budget. Either may be unlimited (or change its rate while in use).
 */
export class LimitPair implements Limit {
  readonly #own: Limit
  readonly #global: Limit

  constructor (own: Limit, global: Limit) {
    this.#own = own
    this.#global = global
  }

  get limited (): boolean {
    return this.#own.limited || this.#global.limited
  }

  charge (bytes: number): void {
    this.#own.charge(bytes)
    this.#global.charge(bytes)
  }

  available (): boolean {
    return this.#own.available() && this.#global.available()
  }

  whenAvailable (fn: () => void, atLeast = 0): void {
    // Wait for a limit short of budget (or, both having some, for the limited one to hold `atLeast`), then check both
    // again: the other may have run dry meanwhile.
    const limits = [this.#own, this.#global]
    const wait = limits.find(l => l.limited && !l.available()) ?? limits.find(l => l.limited)
    if (wait === undefined) { fn(); return }
    wait.whenAvailable(() => { if (this.available()) fn(); else this.whenAvailable(fn, atLeast) }, atLeast)
  }
}
