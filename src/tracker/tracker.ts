/**
 * The tracker: its SQLite store, its fastify app (built apart from listening, so tests use `app.inject()`)
 * and its liveness prober, under one idempotent lifecycle.
 */
import type { AddressInfo } from 'node:net'
import { fastify, type FastifyInstance } from 'fastify'
import { listenError, ValidationError } from '../errors.js'
import { DEFAULT_TRACKER_HOST, DEFAULT_TRACKER_PORT } from '../constants.js'
import { installJsonErrors, jsonErrorServerOptions } from './http-errors.js'
import { DEFAULT_PROBE_FAILURES_TO_PRUNE, DEFAULT_PROBE_INTERVAL_MS, TRACKER_BODY_LIMIT_BYTES, TRACKER_MAX_PARAM_LENGTH } from './limits.js'
import { tcpProbe, type ProbeFn } from './probe.js'
import { Prober, type PruneReport } from './prober.js'
import { registerHealthRoutes } from './routes-health.js'
import { registerSeedRoutes } from './routes-seed.js'
import { TrackerStore, type StoreLimits } from './store.js'

export interface TrackerOptions {
  /** SQLite file path (created if missing), or ':memory:'. */
  db: string
  /** fastify/pino request logging to stdout; default false (silent). */
  logger?: boolean | undefined
  /** Liveness check of a registered (ip, port); default: a TCP connect with a 3 s timeout, then close. */
  probe?: ProbeFn | undefined
  /** Pause between probe rounds; default 60 000. 0 disables automatic rounds (pruneOnce() still works). */
  probeIntervalMs?: number | undefined
  /** Consecutive failed probes after which a peer is removed; default 3. */
  probeFailuresToPrune?: number | undefined
  /** Clock for the stored times, ms since the epoch; default Date.now. */
  now?: (() => number) | undefined
  /** Capacity limits (default: limits.ts); mostly for tests. */
  limits?: Partial<StoreLimits> | undefined
}

export interface TrackerAddress {
  host: string
  port: number
}

export interface Tracker {
  /** The HTTP app: routes, parsers and error handling. Use `app.inject()` in tests. */
  readonly app: FastifyInstance
  /** Listens on host (default 127.0.0.1) and port (default 5000; 0 = any free port); resolves to the bound address. */
  listen (address?: { host?: string | undefined, port?: number | undefined }): Promise<TrackerAddress>
  /** Runs one probe round now (or joins the one in progress) and reports what it did. */
  pruneOnce (): Promise<PruneReport>
  /** Stops probing (aborting a round in progress), closes the HTTP server and the database. Idempotent. */
  close (): Promise<void>
}

const MAX_TIMER_MS = 2 ** 31 - 1

function checkOptions (options: TrackerOptions): void {
  const interval = options.probeIntervalMs
  if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0 && interval <= MAX_TIMER_MS)) {
    throw new ValidationError(`Invalid probe interval: ${interval} ms (0 to ${MAX_TIMER_MS})`)
  }
  const failures = options.probeFailuresToPrune
  if (failures !== undefined && !(Number.isSafeInteger(failures) && failures >= 1)) {
    throw new ValidationError(`Invalid probe failure count: ${failures} (an integer of at least 1)`)
  }
}

/** Opens the store, builds the app and starts the prober. Throws P2PError `ERR_TRACKER_DB` when the db cannot be used. */
export async function createTracker (options: TrackerOptions): Promise<Tracker> {
  checkOptions(options)
  const now = options.now ?? Date.now
  const store = TrackerStore.open(options.db, options.limits)
  let app: FastifyInstance
  try {
    app = fastify({
      logger: options.logger ?? false,
      bodyLimit: TRACKER_BODY_LIMIT_BYTES,
      routerOptions: { maxParamLength: TRACKER_MAX_PARAM_LENGTH },
      ...jsonErrorServerOptions
    })
    installJsonErrors(app, TRACKER_BODY_LIMIT_BYTES)
    registerSeedRoutes(app, { store, now })
    registerHealthRoutes(app)
  } catch (err) {
    store.close()
    throw err
  }

  const prober = new Prober({
    store,
    probe: options.probe ?? tcpProbe,
    intervalMs: options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
    failuresToPrune: options.probeFailuresToPrune ?? DEFAULT_PROBE_FAILURES_TO_PRUNE,
    now,
    onError: (err) => app.log.error({ err }, 'probe round failed')
  })
  // Whoever closes the app (tracker.close() or app.close()) stops the prober first, the database last.
  app.addHook('preClose', async () => { await prober.close() })
  app.addHook('onClose', async () => { store.close() })

  try {
    await app.ready()
  } catch (err) {
    await prober.close()
    store.close()
    throw err
  }
  prober.start()

  let closing: Promise<void> | undefined
  return {
    app,
    async listen (address = {}) {
      const host = address.host ?? DEFAULT_TRACKER_HOST
      const port = address.port ?? DEFAULT_TRACKER_PORT
      try {
        await app.listen({ host, port })
      } catch (err) {
        throw listenError(err, host, port)
      }
      const bound = app.server.address() as AddressInfo
      return { host: bound.address, port: bound.port }
    },
    pruneOnce: () => prober.runOnce(),
    close () {
      closing ??= app.close()
      return closing
    }
  }
}

/**
 * The tracker's fastify app alone, for callers that only need `inject()`/`listen()`: closing the app
 * stops the prober and closes the database.
 */
export async function buildTrackerApp (options: TrackerOptions): Promise<FastifyInstance> {
  return (await createTracker(options)).app
}
