/**
 * Pruning of legacy peers that stopped answering. The seed's peers register once and never again (no
 * heartbeat), so age says nothing about them: a peer is removed only after it fails several liveness
 * probes in a row. One round probes each distinct (ip, port) once, a bounded number at a time; rounds
 * never overlap (the next is scheduled when one ends); close() aborts a round in progress.
 */
import type { ProbeFn } from './probe.js'
import type { Endpoint, TrackerStore } from './store.js'
import { DEFAULT_PROBE_FAILURES_TO_PRUNE, PROBE_CONCURRENCY, PROBE_MAX_PER_ROUND, PROBE_WATCHDOG_MS } from './limits.js'

/** What one round did. */
export interface PruneReport {
  /** Endpoints whose probe completed. */
  probed: number
  /** Of those, how many answered. */
  alive: number
  /** Of those, how many did not (or whose probe threw or passed the watchdog). */
  failed: number
  /** Registrations deleted (an endpoint may hold several files). */
  pruned: number
  /** The round was cut short by close(); results after that point were discarded. */
  aborted: boolean
}

export interface ProberOptions {
  store: Pick<TrackerStore, 'endpointsToProbe' | 'recordProbe'>
  probe: ProbeFn
  /** Between the end of one round and the start of the next; 0 = no automatic rounds. */
  intervalMs: number
  failuresToPrune?: number
  now: () => number
  concurrency?: number
  maxPerRound?: number
  /** A probe still pending after this long counts as failed and is aborted. */
  watchdogMs?: number
  /** An automatic round failed (e.g. the database is unusable); the schedule goes on. */
  onError?: (err: unknown) => void
}

function emptyReport (aborted: boolean): PruneReport {
  return { probed: 0, alive: 0, failed: 0, pruned: 0, aborted }
}

export class Prober {
  readonly #options: ProberOptions
  readonly #failuresToPrune: number
  readonly #concurrency: number
  readonly #maxPerRound: number
  readonly #watchdogMs: number
  readonly #closing = new AbortController()
  /**
   * The controllers of the probes in flight (at most `concurrency`), aborted together by close(). One listener on the
   * closing signal for all of them: a listener per probe put PROBE_CONCURRENCY (16) on that one signal, past the 10
   * EventTarget allows before Node warns (MaxListenersExceededWarning, issue 9).
   */
  readonly #inFlight = new Set<AbortController>()
  #round: Promise<PruneReport> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor (options: ProberOptions) {
    this.#options = options
    this.#failuresToPrune = Math.max(1, options.failuresToPrune ?? DEFAULT_PROBE_FAILURES_TO_PRUNE)
    this.#concurrency = Math.max(1, options.concurrency ?? PROBE_CONCURRENCY)
    this.#maxPerRound = Math.max(1, options.maxPerRound ?? PROBE_MAX_PER_ROUND)
    this.#watchdogMs = options.watchdogMs ?? PROBE_WATCHDOG_MS
    this.#closing.signal.addEventListener('abort', () => {
      for (const controller of this.#inFlight) controller.abort()
    }, { once: true })
  }

  /** Starts the automatic rounds (the first one interval after now). No-op when intervalMs is 0. */
  start (): void {
    if (this.#options.intervalMs > 0 && this.#timer === undefined && !this.#closing.signal.aborted) this.#schedule()
  }

  /**
   * Runs one round now, or joins the round in progress (rounds never overlap). After close() it resolves
   * at once with an empty, aborted report.
   */
  runOnce (): Promise<PruneReport> {
    if (this.#closing.signal.aborted) return Promise.resolve(emptyReport(true))
    if (this.#round === undefined) {
      const round = this.#run()
      this.#round = round
      const clear = (): void => {
        if (this.#round === round) this.#round = undefined
      }
      round.then(clear, clear)
    }
    return this.#round
  }

  /** Stops the schedule and aborts the round in progress; resolves when that round has ended. Idempotent. */
  async close (): Promise<void> {
    this.#closing.abort()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#round?.catch(() => undefined)
  }

  #schedule (): void {
    const timer = setTimeout(() => {
      this.#timer = undefined
      this.runOnce()
        .catch((err: unknown) => this.#options.onError?.(err))
        .finally(() => {
          if (!this.#closing.signal.aborted) this.#schedule()
        })
    }, this.#options.intervalMs)
    // The schedule alone must not keep a process alive (the HTTP server does that while it listens).
    timer.unref?.()
    this.#timer = timer
  }

  async #run (): Promise<PruneReport> {
    const { store, now } = this.#options
    const signal = this.#closing.signal
    const report = emptyReport(false)
    const endpoints = store.endpointsToProbe(this.#maxPerRound)
    let next = 0
    const worker = async (): Promise<void> => {
      while (!signal.aborted && next < endpoints.length) {
        const endpoint = endpoints[next++] as Endpoint
        const startedAt = now()
        const alive = await this.#probeOne(endpoint, signal)
        if (signal.aborted) return
        report.probed++
        if (alive) report.alive++
        else report.failed++
        report.pruned += store.recordProbe(endpoint, alive, startedAt, now(), this.#failuresToPrune)
      }
    }
    const workers: Array<Promise<void>> = []
    for (let i = 0; i < Math.min(this.#concurrency, endpoints.length); i++) workers.push(worker())
    await Promise.all(workers)
    report.aborted = signal.aborted
    return report
  }

  /** One probe, bounded by the watchdog and cut short by close(). A probe that throws counts as failed. */
  async #probeOne (endpoint: Endpoint, closing: AbortSignal): Promise<boolean> {
    if (closing.aborted) return false
    const controller = new AbortController()
    this.#inFlight.add(controller)
    let timer: ReturnType<typeof setTimeout> | undefined
    const cutShort = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        controller.abort()
        resolve(false)
      }, this.#watchdogMs)
      controller.signal.addEventListener('abort', () => resolve(false), { once: true })
    })
    try {
      let probing: Promise<boolean>
      try {
        // Called synchronously, so a round's first probes start within the call that starts the round.
        probing = this.#options.probe(endpoint.ip, endpoint.port, controller.signal).then((alive) => alive === true, () => false)
      } catch {
        return false
      }
      return await Promise.race([probing, cutShort])
    } finally {
      clearTimeout(timer)
      this.#inFlight.delete(controller)
    }
  }
}
