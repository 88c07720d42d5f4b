/** A moving rate estimate (bytes per second over a sliding window), cheap enough to update per block. */
export class RateMeter {
  readonly #windowMs: number
  #bytes = 0
  #rate = 0
  #age = 0
  #since: number

  constructor (now: number, windowMs = 5_000) {
    this.#windowMs = windowMs
    this.#since = now
  }

  add (bytes: number): void {
    this.#bytes += bytes
  }

  /** Fold what was added since the last call into the estimate; call about once a second. */
  update (now: number): number {
    const elapsed = Math.max(1, now - this.#since)
    const instant = this.#bytes * 1000 / elapsed
    // Within the first window the estimate is the plain average so far: a new connection's rate is known after one
    // update, not ramped up over five (which held request pipelines at their minimum for seconds).
    this.#age += elapsed
    const weight = Math.min(1, elapsed / Math.min(this.#windowMs, this.#age))
    this.#rate = this.#rate * (1 - weight) + instant * weight
    this.#bytes = 0
    this.#since = now
    return this.#rate
  }

  get rate (): number {
    return this.#rate
  }
}
