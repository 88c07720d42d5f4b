/**
 * Completed downloads per file: the swarms report a peer's first `event=completed` (`SwarmsOptions.onCompleted`), and
 * the count is kept in the catalogue's `files.completed`, so it survives restarts (a swarm's own `downloaded`, which
 * scrape reports, lives only as long as the swarm).
 *
 * Counts are gathered in memory and written in one transaction every COMPLETED_FLUSH_INTERVAL_MS and at close, not
 * one synchronous disk write per announce. Readers add the unwritten part (`pending`), so `/files` and `/lookup` are
 * exact at any moment; a crash loses at most one period of increments.
 */
import { COMPLETED_FLUSH_INTERVAL_MS, COMPLETED_MAX_PENDING } from './limits.js'
import type { TrackerStore } from './store.js'

export interface CompletedCountsOptions {
  /** Period of the writes, ms; default COMPLETED_FLUSH_INTERVAL_MS. 0: no timer (`flush()` and `close()` still write). */
  flushIntervalMs?: number | undefined
  /** Distinct info hashes held before a write is forced; default COMPLETED_MAX_PENDING. */
  maxPending?: number | undefined
  /** A write that failed (the counts are kept for the next one). */
  onError?: ((err: unknown) => void) | undefined
}

export class CompletedCounts {
  readonly #store: TrackerStore
  readonly #pending = new Map<string, number>()
  readonly #intervalMs: number
  readonly #maxPending: number
  readonly #onError: (err: unknown) => void
  #timer: ReturnType<typeof setInterval> | undefined
  #closed = false

  constructor (store: TrackerStore, options: CompletedCountsOptions = {}) {
    this.#store = store
    this.#intervalMs = options.flushIntervalMs ?? COMPLETED_FLUSH_INTERVAL_MS
    this.#maxPending = options.maxPending ?? COMPLETED_MAX_PENDING
    this.#onError = options.onError ?? (() => {})
  }

  /** Starts the periodic writes. Idempotent. */
  start (): void {
    if (this.#timer !== undefined || this.#closed || this.#intervalMs <= 0) return
    this.#timer = setInterval(() => { this.#flushQuietly() }, this.#intervalMs)
    // Like the prober's schedule, the writes alone must not keep a process alive.
    this.#timer.unref()
  }

  /**
   * One more completed download of an info hash (40 lower-case hex). After close() (a request that was still in
   * flight), written at once while the store is open, dropped once it is closed.
   */
  add (infoHash: string): void {
    if (this.#closed && !this.#store.isOpen) return
    this.#pending.set(infoHash, (this.#pending.get(infoHash) ?? 0) + 1)
    if (this.#closed || this.#pending.size >= this.#maxPending) this.#flushQuietly()
  }

  /** Completions of an info hash not yet written to the catalogue. */
  pending (infoHash: string): number {
    return this.#pending.get(infoHash) ?? 0
  }

  /**
   * Writes every pending count in one transaction and returns how many files it updated. On failure the counts stay
   * pending (added to any that arrive meanwhile) and the error is thrown.
   */
  flush (): number {
    if (this.#pending.size === 0 || !this.#store.isOpen) return 0
    const batch = [...this.#pending]
    this.#pending.clear()
    try {
      return this.#store.addCompleted(batch)
    } catch (err) {
      for (const [infoHash, count] of batch) this.#pending.set(infoHash, (this.#pending.get(infoHash) ?? 0) + count)
      throw err
    }
  }

  /** Stops the timer and writes what is pending (before the store closes). Idempotent. */
  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#closed = true
    this.#flushQuietly()
  }

  #flushQuietly (): void {
    try {
      this.flush()
    } catch (err) {
      this.#onError(err)
    }
  }
}
