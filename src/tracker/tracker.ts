/**
 * The tracker: its SQLite store, its fastify app (built apart from listening, so tests use `app.inject()`)
 * and its liveness prober, under one idempotent lifecycle.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { createSecureContext } from 'node:tls'
import { fastify, LogController, type FastifyInstance } from 'fastify'
import { listenError, P2PError, systemErrorCode, ValidationError } from '../errors.js'
import { DEFAULT_TRACKER_HOST, DEFAULT_TRACKER_PORT } from '../constants.js'
import { PasskeyIndex, passkeyFailure, registerAccessControl } from './access.js'
import { registerRateLimits } from './abuse.js'
import { installJsonErrors, jsonErrorServerOptions } from './http-errors.js'
import { asFastifyLogger, TrackerLog } from './log.js'
import { TrackerMetrics } from './metrics.js'
import { registerOpsRoutes } from './routes-ops.js'
import { registerWebRoutes } from './routes-web.js'
import {
  DEFAULT_ANNOUNCE_INTERVAL_S,
  DEFAULT_PROBE_FAILURES_TO_PRUNE,
  DEFAULT_PROBE_INTERVAL_MS,
  LISTEN_PORT_ATTEMPTS,
  MAX_ANNOUNCE_INTERVAL_S,
  SWARM_SWEEP_INTERVAL_MS,
  TRACKER_BODY_LIMIT_BYTES,
  TRACKER_IDLE_TIMEOUT_MS,
  TRACKER_MAX_CONNECTIONS,
  TRACKER_MAX_HEADER_BYTES,
  TRACKER_MAX_PARAM_LENGTH
} from './limits.js'
import { tcpProbe, type ProbeFn } from './probe.js'
import { Prober, type PruneReport } from './prober.js'
import { createRateLimits, type RateLimitOptions } from './rate-limit.js'
import { AnnounceService } from './announce-service.js'
import { createFrontDoor } from './front-door.js'
import { fastifyListener, frontDoorListener } from './http-listener.js'
import { registerAnnounceRoutes } from './routes-announce.js'
import { registerHealthRoutes } from './routes-health.js'
import { registerSeedRoutes } from './routes-seed.js'
import { registerTorrentRoutes } from './routes-torrent.js'
import { CompletedCounts } from './catalogue-completed.js'
import { TrackerStore, type StoreLimits } from './store.js'
import { Swarms, type SwarmLimits } from './swarms.js'
import { UdpTracker } from './udp.js'

export interface TrackerOptions {
  /** SQLite file path (created if missing), or ':memory:'. */
  db: string
  /**
   * Logging: a TrackerLog (log.ts) gets one line per request (method, route, status, latency, client address) and
   * the errors; `true` is fastify's own pino logger on stdout; default false (silent).
   */
  logger?: boolean | TrackerLog | undefined
  /** Serve HTTPS with this certificate chain and private key (PEM); UDP is unaffected. Default: plain HTTP. */
  https?: { cert: string | Buffer, key: string | Buffer } | undefined
  /**
   * Longest wait of `close()` for requests in flight, ms; then the connections still open are closed. Default
   * SHUTDOWN_TIMEOUT_MS (10 s).
   */
  shutdownTimeoutMs?: number | undefined
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
  /** BitTorrent announce `interval`, seconds (1 to 86,400); default 1800. Peers expire after 2 × interval + 120 s. */
  announceIntervalS?: number | undefined
  /** Period of the sweep that drops expired announced peers of swarms nobody reads, ms; default 60 000. 0 disables it (every read still drops them). */
  swarmSweepIntervalMs?: number | undefined
  /** Capacity limits of the announce swarms (default: limits.ts); mostly for tests. */
  swarmLimits?: Partial<SwarmLimits> | undefined
  /**
   * Serve the UDP tracker protocol (BEP 15) on the HTTP port's number, over the same swarms; default true. Its
   * connection ids follow `now` too.
   */
  udp?: boolean | undefined
  /**
   * Abuse limits (rate-limit.ts): per-client budgets of announces, UDP packets, writes and reads, over the defaults
   * of limits.ts; `false` disables them (local benchmarks). Default: on, loopback included.
   */
  rateLimits?: Partial<RateLimitOptions> | false | undefined
  /**
   * A regular announce (no event) sooner than this after the peer's last one gets counts and no peers, and changes
   * nothing, seconds; default the replies' `min interval` (half the interval); 0 disables the rule. `started`,
   * `completed` and `stopped` are always applied.
   */
  enforcedMinIntervalS?: number | undefined
  /**
   * A private tracker (access.ts): every announce, scrape and seed-API request must carry a key issued by the operator
   * (`?passkey=KEY`; `store.keys`, `p2pshare tracker keys`). It serves no UDP (BEP 15 requests have no place for the
   * key): `udp` is then ignored. Default false.
   */
  private?: boolean | undefined
}

export interface TrackerAddress {
  host: string
  /** The HTTP port. */
  port: number
  /** The UDP tracker's port (the same number as `port`); absent when UDP is disabled. */
  udpPort?: number
}

export interface Tracker {
  /** The HTTP app: routes, parsers and error handling. Use `app.inject()` in tests. */
  readonly app: FastifyInstance
  /** The Prometheus metrics `GET /metrics` serves; the BitTorrent fast path records into it. */
  readonly metrics: TrackerMetrics
  /**
   * Listens on host (default 127.0.0.1) and port (default 5000; 0 = any port free for both TCP and UDP), HTTP and
   * (unless disabled) UDP on the same port number; resolves to the bound address.
   */
  listen (address?: { host?: string | undefined, port?: number | undefined }): Promise<TrackerAddress>
  /** Runs one probe round now (or joins the one in progress) and reports what it did. */
  pruneOnce (): Promise<PruneReport>
  /** Drops expired announced peers and idle empty swarms now; returns how many peers were dropped. */
  sweepSwarms (): number
  /**
   * Graceful shutdown: stops accepting connections and probing, lets requests in flight finish (at most
   * `shutdownTimeoutMs`, then closes the connections left), closes the UDP socket, then the database. Idempotent.
   */
  close (): Promise<void>
}

const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * How long a graceful shutdown waits for requests in flight: every route answers in well under a second, so 10 s
 * covers a slow client sending a large body, and keeps a supervisor's stop (systemd: 90 s, Docker: 10 s) short.
 */
export const SHUTDOWN_TIMEOUT_MS = 10_000

function checkOptions (options: TrackerOptions): void {
  const interval = options.probeIntervalMs
  if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0 && interval <= MAX_TIMER_MS)) {
    throw new ValidationError(`Invalid probe interval: ${interval} ms (0 to ${MAX_TIMER_MS})`)
  }
  const failures = options.probeFailuresToPrune
  if (failures !== undefined && !(Number.isSafeInteger(failures) && failures >= 1)) {
    throw new ValidationError(`Invalid probe failure count: ${failures} (an integer of at least 1)`)
  }
  const announce = options.announceIntervalS
  if (announce !== undefined && !(Number.isSafeInteger(announce) && announce >= 1 && announce <= MAX_ANNOUNCE_INTERVAL_S)) {
    throw new ValidationError(`Invalid announce interval: ${announce} s (an integer from 1 to ${MAX_ANNOUNCE_INTERVAL_S})`)
  }
  const sweep = options.swarmSweepIntervalMs
  if (sweep !== undefined && !(Number.isFinite(sweep) && sweep >= 0 && sweep <= MAX_TIMER_MS)) {
    throw new ValidationError(`Invalid swarm sweep interval: ${sweep} ms (0 to ${MAX_TIMER_MS})`)
  }
  const early = options.enforcedMinIntervalS
  if (early !== undefined && !(Number.isFinite(early) && early >= 0 && early <= MAX_ANNOUNCE_INTERVAL_S)) {
    throw new ValidationError(`Invalid enforced min interval: ${early} s (0 to ${MAX_ANNOUNCE_INTERVAL_S})`)
  }
}

/** Opens the store, builds the app and starts the prober. Throws P2PError `ERR_TRACKER_DB` when the db cannot be used. */
export async function createTracker (options: TrackerOptions): Promise<Tracker> {
  checkOptions(options)
  const rateLimits = createRateLimits(options.rateLimits)
  const now = options.now ?? Date.now
  const store = TrackerStore.open(options.db, options.limits)
  const intervalS = options.announceIntervalS ?? DEFAULT_ANNOUNCE_INTERVAL_S
  const sweepIntervalMs = options.swarmSweepIntervalMs ?? SWARM_SWEEP_INTERVAL_MS
  // Completed downloads (a peer's first event=completed) are counted into the catalogue, written in batches.
  const completed = new CompletedCounts(store, { onError: (err) => { app.log.error({ err }, 'writing completed counts failed') } })
  const swarms = new Swarms({ intervalS, limits: options.swarmLimits, enforcedMinIntervalS: options.enforcedMinIntervalS, onCompleted: (infoHash) => { completed.add(infoHash) } })
  const log = options.logger instanceof TrackerLog ? options.logger : undefined
  let closing: Promise<void> | undefined
  const metrics = new TrackerMetrics({
    swarms: () => ({ swarms: swarms.swarmCount, peers: swarms.peerCount }),
    catalogue: () => store.isOpen ? { files: store.countFiles() } : undefined,
    udp: () => udp?.stats
  })
  const passkeys = options.private === true ? new PasskeyIndex(store.keys) : undefined
  // BitTorrent announce and scrape: one service for the front door (plain HTTP) and the fastify routes (HTTPS, inject).
  const announces = new AnnounceService({
    swarms,
    now,
    intervalS,
    limiter: rateLimits?.announce,
    passkeyFailure: passkeys === undefined ? undefined : (target: string) => passkeyFailure(target, passkeys),
    metrics,
    // -v: one debug line per announce, its parameters (never the request target: it may hold a passkey).
    onAnnounce: log?.enabled('debug') === true
      ? (params, ip) => {
          log.debug({
            info_hash: params.infoHash,
            peer_id: Buffer.from(params.peerId, 'latin1').toString('hex'),
            ip,
            port: params.port,
            event: params.event,
            uploaded: params.uploaded,
            downloaded: params.downloaded,
            left: params.left
          }, 'announce')
        }
      : undefined
  })
  let app: FastifyInstance
  try {
    if (options.https !== undefined) checkTlsPair(options.https)
    app = fastify({
      ...(log === undefined
        ? { logger: options.logger === true }
        : {
            loggerInstance: asFastifyLogger(log),
            // One logger for all: no child per request; requests are logged by routes-ops.ts, not by fastify.
            childLoggerFactory: (logger) => logger,
            logController: new LogController({ disableRequestLogging: true })
          }),
      ...(options.https === undefined ? {} : { https: { cert: options.https.cert, key: options.https.key, maxHeaderSize: TRACKER_MAX_HEADER_BYTES } }),
      bodyLimit: TRACKER_BODY_LIMIT_BYTES,
      http: { maxHeaderSize: TRACKER_MAX_HEADER_BYTES },
      routerOptions: { maxParamLength: TRACKER_MAX_PARAM_LENGTH },
      ...jsonErrorServerOptions
    })
    installJsonErrors(app, TRACKER_BODY_LIMIT_BYTES)
    // Abuse limits first: a client over its budget costs one map lookup, before any other hook.
    const replyCosts = rateLimits === undefined ? undefined : registerRateLimits(app, rateLimits, now)
    registerOpsRoutes(app, { metrics, log })
    // Private tracker: the JSON routes refuse requests without a valid passkey (hook); announce and scrape check it themselves.
    if (passkeys !== undefined) registerAccessControl(app, passkeys)
    registerSeedRoutes(app, { store, swarms, now, completed, replyCosts, probe: options.probe ?? tcpProbe })
    registerTorrentRoutes(app, { store })
    registerAnnounceRoutes(app, announces)
    registerHealthRoutes(app, { isClosing: () => closing !== undefined })
    registerWebRoutes(app)
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
  // A private tracker serves no UDP: a BEP 15 request has no place for the passkey (see docs/private-tracker.md).
  const udp = options.udp === false || options.private === true
    ? undefined
    : new UdpTracker({ swarms, now, intervalS, limiter: rateLimits?.udp, onError: (err) => { app.log.warn({ err }, 'UDP tracker') } })
  // Whoever closes the app (tracker.close() or app.close()) stops the prober and UDP first, the database last.
  let sweeper: ReturnType<typeof setInterval> | undefined
  app.addHook('preClose', async () => {
    clearInterval(sweeper)
    await Promise.all([prober.close(), udp?.close()])
  })
  app.addHook('onClose', async () => {
    completed.close()
    store.close()
  })

  try {
    await app.ready()
  } catch (err) {
    await prober.close()
    store.close()
    throw err
  }
  prober.start()
  completed.start()
  if (sweepIntervalMs > 0) {
    sweeper = setInterval(() => swarms.sweep(now()), sweepIntervalMs)
    // Like the prober's schedule, the sweep alone must not keep a process alive.
    sweeper.unref()
  }

  // Plain HTTP: the front door answers announces and scrapes from the socket and hands fastify the rest.
  const http = options.https !== undefined
    ? fastifyListener(app)
    : frontDoorListener(app, createFrontDoor({
      fallback: app.server,
      announce: (target, ip) => announces.announce(target, ip),
      scrape: (target, ip) => announces.scrape(target, ip),
      observe: (route, seconds) => { metrics.request(route === 'announce' ? '/announce' : '/scrape', 200, seconds) },
      maxConnections: TRACKER_MAX_CONNECTIONS,
      idleTimeoutMs: TRACKER_IDLE_TIMEOUT_MS
    }))

  return {
    app,
    metrics,
    async listen (address = {}) {
      const host = address.host ?? DEFAULT_TRACKER_HOST
      const port = address.port ?? DEFAULT_TRACKER_PORT
      if (udp === undefined) {
        await http.listen(host, port)
        return http.address()
      }
      // UDP on the address HTTP serves (a name: the first address it resolves to).
      let udpHost = host
      if (isIP(host) === 0) {
        try {
          udpHost = (await lookup(host)).address
        } catch (err) {
          throw listenError(err, host, port)
        }
      }
      if (port !== 0) {
        // HTTP first: a port another tracker holds is reported as it always was.
        await http.listen(host, port)
        try {
          return { ...http.address(), udpPort: await udp.listen(udpHost, port) }
        } catch (err) {
          await http.unlisten()
          throw udpListenError(err, udpHost, port)
        }
      }
      // Any port: UDP picks one, HTTP takes the same number. It may be taken for TCP: then both try again, a bounded
      // number of times.
      for (let attempt = 1; ; attempt++) {
        let udpPort: number
        try {
          udpPort = await udp.listen(udpHost, 0)
        } catch (err) {
          throw udpListenError(err, udpHost, 0)
        }
        try {
          await http.listen(host, udpPort)
        } catch (err) {
          await udp.close()
          if (attempt < LISTEN_PORT_ATTEMPTS && (err as P2PError).code === 'ERR_PORT_IN_USE') continue
          throw err
        }
        return { ...http.address(), udpPort }
      }
    },
    pruneOnce: () => prober.runOnce(),
    sweepSwarms: () => swarms.sweep(now()),
    close () {
      closing ??= http.close(options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS)
      return closing
    }
  }
}

/** Checks a TLS certificate and key before any socket is opened: unreadable PEM or a key of another certificate. */
function checkTlsPair (tls: { cert: string | Buffer, key: string | Buffer }): void {
  try {
    createSecureContext({ cert: tls.cert, key: tls.key })
  } catch (err) {
    const reason = (err as Error).message
    const mismatch = /mismatch/i.test(reason)
    throw new ValidationError(mismatch
      ? 'TLS: the private key (--key) does not belong to the certificate (--cert)'
      : `TLS: cannot use the certificate or key: ${reason}`, { cause: err })
  }
}

/** A failed bind of the UDP socket, as listenError words it for HTTP, naming UDP and the way around it. */
function udpListenError (err: unknown, host: string, port: number): P2PError {
  const code = systemErrorCode(err)
  if (code === 'EADDRINUSE') {
    return new P2PError('ERR_PORT_IN_USE', `Port ${port} is already in use for UDP (Address already in use): choose another with --port, or serve HTTP only with --no-udp`, { cause: err })
  }
  const base = listenError(err, host, port)
  return new P2PError(base.code, `UDP tracker: ${base.message}`, { cause: err })
}

/**
 * The tracker's fastify app alone, for callers that only need `inject()`/`listen()`: closing the app
 * stops the prober and closes the database.
 */
export async function buildTrackerApp (options: TrackerOptions): Promise<FastifyInstance> {
  return (await createTracker(options)).app
}
