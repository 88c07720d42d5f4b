/**
 * The tracker's Prometheus metrics, written in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) by hand: a few counters, one latency histogram and
 * gauges read when `/metrics` is scraped.
 *
 * Recording is on the hot path (every announce), so it is O(1) and allocates nothing: every label series is created
 * up front (or once per route, when the route is added) and held in numeric arrays; a route's series is found with
 * one Map lookup of the route pattern. Only `render()` builds strings.
 */
import type { UdpTrackerStats } from './udp.js'

export type TrackerProtocol = 'http' | 'udp'
/** An announce or scrape: served, refused with a failure reason, refused by a rate limit, refused for its key. */
export type AnnounceResult = 'ok' | 'failure' | 'rate_limited' | 'denied'
/** A `/register`: recorded, bad input (400/413/415), refused for its key (401/403), catalogue full (503), rate limited (429). */
export type RegistrationResult = 'ok' | 'invalid' | 'denied' | 'full' | 'rate_limited'
/** Why an HTTP request was answered with an error status (see `rejectReason`). */
export type RejectReason = 'rate_limited' | 'too_large' | 'bad_request' | 'denied' | 'not_found' | 'method_not_allowed' | 'unavailable'

const PROTOCOLS: readonly TrackerProtocol[] = ['http', 'udp']
const ANNOUNCE_RESULTS: readonly AnnounceResult[] = ['ok', 'failure', 'rate_limited', 'denied']
const REGISTRATION_RESULTS: readonly RegistrationResult[] = ['ok', 'invalid', 'denied', 'full', 'rate_limited']
const REJECT_REASONS: readonly RejectReason[] = ['rate_limited', 'too_large', 'bad_request', 'denied', 'not_found', 'method_not_allowed', 'unavailable']
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/**
 * Upper bounds of the request latency histogram, seconds: from 0.5 ms (an announce on loopback takes tens of µs, so
 * the first bucket holds nearly all of them) to 1 s (a lookup of a large file, a register waiting for SQLite).
 */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

/** Route label of requests that matched no route (404s and malformed URLs). */
export const UNMATCHED_ROUTE = 'unmatched'

/** The tracker's state, read at scrape time. Each source is optional: a missing one's gauges are left out. */
export interface MetricsSources {
  /** Announce swarms: swarms held and announced peers; seeders when known (leechers are the rest). */
  swarms?: (() => { swarms: number, peers: number, seeders?: number | undefined }) | undefined
  /** The catalogue: files, and legacy (`/register`) peer registrations when known; undefined once the store is closed. */
  catalogue?: (() => { files: number, legacyPeers?: number | undefined } | undefined) | undefined
  /** The UDP tracker's counters (absent when UDP is off). */
  udp?: (() => UdpTrackerStats | undefined) | undefined
}

/** One route's latency histogram and responses by status class. */
class RouteSeries {
  /** Count per bucket, not cumulative (made cumulative when rendered); the last one is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_S.length + 1)
  readonly statusClasses = new Float64Array(STATUS_CLASSES.length)
  sum = 0
  count = 0

  constructor (readonly label: string) {}
}

/** Status class index of an HTTP status: 0 for 1xx … 4 for 5xx. */
function statusClass (status: number): number {
  const i = Math.floor(status / 100) - 1
  return i < 0 ? 0 : i > 4 ? 4 : i
}

/** The reason an error status counts as a rejected request; undefined for a success or a fault of ours (5xx but 503). */
export function rejectReason (status: number): RejectReason | undefined {
  if (status < 400) return undefined
  switch (status) {
    case 429: return 'rate_limited'
    case 413: case 414: case 431: return 'too_large'
    case 401: case 403: return 'denied'
    case 404: return 'not_found'
    case 405: return 'method_not_allowed'
    case 503: return 'unavailable'
  }
  return status < 500 ? 'bad_request' : undefined
}

/** The result of a `/register` answered with `status`. */
export function registrationResult (status: number): RegistrationResult {
  if (status < 400) return 'ok'
  if (status === 429) return 'rate_limited'
  if (status === 401 || status === 403) return 'denied'
  if (status === 503) return 'full'
  return 'invalid'
}

/** Adds one to a counter of an array (its index always in range: the label sets are fixed). */
function increment (counters: Float64Array, i: number): void {
  counters[i] = (counters[i] as number) + 1
}

/** A label value escaped as the format asks: backslash, double quote and line feed. */
function labelValue (value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** A number as the format writes it (integers without a fraction; NaN and infinities by name). */
function num (value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

export class TrackerMetrics {
  /** announces[protocol * results + result]. */
  readonly #announces = new Float64Array(PROTOCOLS.length * ANNOUNCE_RESULTS.length)
  readonly #scrapes = new Float64Array(PROTOCOLS.length * ANNOUNCE_RESULTS.length)
  readonly #registrations = new Float64Array(REGISTRATION_RESULTS.length)
  readonly #rejected = new Float64Array(REJECT_REASONS.length)
  readonly #routes = new Map<string, RouteSeries>()
  readonly #unmatched = new RouteSeries(UNMATCHED_ROUTE)
  readonly #sources: MetricsSources
  readonly #startTimeS: number

  constructor (sources: MetricsSources = {}, options: { routes?: readonly string[] } = {}) {
    this.#sources = sources
    this.#startTimeS = Math.floor(Date.now() / 1000)
    this.#routes.set(UNMATCHED_ROUTE, this.#unmatched)
    for (const route of options.routes ?? ['/announce', '/scrape']) this.addRoute(route)
  }

  /**
   * Creates the series of a route (its pattern, e.g. `/get_file/:name`), once: fastify's `onRoute` hook calls it as
   * routes are added, so that recording never creates one. Idempotent.
   */
  addRoute (route: string): void {
    if (!this.#routes.has(route)) this.#routes.set(route, new RouteSeries(route))
  }

  /**
   * An announce handled and its result. UDP announces served are read from the UDP tracker's counters at scrape
   * time (`sources.udp`): call this for UDP only with the other results.
   */
  announce (protocol: TrackerProtocol, result: AnnounceResult): void {
    increment(this.#announces, (protocol === 'http' ? 0 : 1) * ANNOUNCE_RESULTS.length + ANNOUNCE_RESULTS.indexOf(result))
  }

  /** A scrape handled and its result (UDP: as for `announce`, served ones come from the UDP tracker's counters). */
  scrape (protocol: TrackerProtocol, result: AnnounceResult): void {
    increment(this.#scrapes, (protocol === 'http' ? 0 : 1) * ANNOUNCE_RESULTS.length + ANNOUNCE_RESULTS.indexOf(result))
  }

  /** A `/register` and its result. */
  registration (result: RegistrationResult): void {
    increment(this.#registrations, REGISTRATION_RESULTS.indexOf(result))
  }

  /** A request refused before it was served (counted by `request()` from its status; call it directly only for others). */
  rejected (reason: RejectReason): void {
    increment(this.#rejected, REJECT_REASONS.indexOf(reason))
  }

  /**
   * One HTTP request answered: its route pattern (an unknown one counts as `unmatched`), status and time taken,
   * seconds. An error status also counts as a rejected request (`rejectReason`).
   */
  request (route: string, status: number, seconds: number): void {
    const series = this.#routes.get(route) ?? this.#unmatched
    let b = 0
    while (b < LATENCY_BUCKETS_S.length && seconds > (LATENCY_BUCKETS_S[b] as number)) b++
    increment(series.buckets, b)
    series.sum += seconds
    series.count++
    increment(series.statusClasses, statusClass(status))
    const reason = rejectReason(status)
    if (reason !== undefined) this.rejected(reason)
  }

  /** The exposition text: every metric, the gauges read from the sources now. */
  render (): string {
    const out: string[] = []
    const header = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    }

    const udp = this.#sources.udp?.()
    header('p2pshare_tracker_announces_total', 'counter', 'BitTorrent announces by protocol and result.')
    this.#byProtocol(out, 'p2pshare_tracker_announces_total', this.#announces, udp?.announces ?? 0)
    header('p2pshare_tracker_scrapes_total', 'counter', 'BitTorrent scrapes by protocol and result.')
    this.#byProtocol(out, 'p2pshare_tracker_scrapes_total', this.#scrapes, udp?.scrapes ?? 0)

    header('p2pshare_tracker_registrations_total', 'counter', 'POST /register requests by result.')
    REGISTRATION_RESULTS.forEach((result, i) => {
      out.push(`p2pshare_tracker_registrations_total{result="${result}"} ${num(this.#registrations[i] ?? 0)}`)
    })
    header('p2pshare_tracker_rejected_requests_total', 'counter', 'HTTP requests answered with an error status, by reason.')
    REJECT_REASONS.forEach((reason, i) => {
      out.push(`p2pshare_tracker_rejected_requests_total{reason="${reason}"} ${num(this.#rejected[i] ?? 0)}`)
    })

    header('p2pshare_tracker_http_requests_total', 'counter', 'HTTP requests by route and status class.')
    for (const series of this.#routes.values()) {
      const route = labelValue(series.label)
      STATUS_CLASSES.forEach((cls, i) => {
        const n = series.statusClasses[i] ?? 0
        if (n > 0) out.push(`p2pshare_tracker_http_requests_total{route="${route}",code="${cls}"} ${num(n)}`)
      })
    }
    header('p2pshare_tracker_request_duration_seconds', 'histogram', 'HTTP request latency by route, seconds.')
    for (const series of this.#routes.values()) {
      const route = labelValue(series.label)
      let cumulative = 0
      LATENCY_BUCKETS_S.forEach((le, i) => {
        cumulative += series.buckets[i] ?? 0
        out.push(`p2pshare_tracker_request_duration_seconds_bucket{route="${route}",le="${num(le)}"} ${num(cumulative)}`)
      })
      out.push(`p2pshare_tracker_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${num(series.count)}`)
      out.push(`p2pshare_tracker_request_duration_seconds_sum{route="${route}"} ${num(series.sum)}`)
      out.push(`p2pshare_tracker_request_duration_seconds_count{route="${route}"} ${num(series.count)}`)
    }

    this.#gauges(out, header, udp)
    return out.join('\n') + '\n'
  }

  /** One counter by protocol and result; UDP's served ones (`udpOk`) come from the UDP tracker's own counters. */
  #byProtocol (out: string[], name: string, values: Float64Array, udpOk: number): void {
    PROTOCOLS.forEach((protocol, p) => {
      ANNOUNCE_RESULTS.forEach((result, r) => {
        const extra = protocol === 'udp' && result === 'ok' ? udpOk : 0
        out.push(`${name}{protocol="${protocol}",result="${result}"} ${num((values[p * ANNOUNCE_RESULTS.length + r] ?? 0) + extra)}`)
      })
    })
  }

  #gauges (out: string[], header: (name: string, type: string, help: string) => void, udp: UdpTrackerStats | undefined): void {
    const gauge = (name: string, help: string, value: number): void => {
      header(name, 'gauge', help)
      out.push(`${name} ${num(value)}`)
    }
    const swarms = this.#sources.swarms?.()
    if (swarms !== undefined) {
      gauge('p2pshare_tracker_swarms', 'Swarms (info hashes) held in memory.', swarms.swarms)
      if (swarms.seeders === undefined) {
        gauge('p2pshare_tracker_peers', 'Announced BitTorrent peers held, all swarms.', swarms.peers)
      } else {
        header('p2pshare_tracker_peers', 'gauge', 'Announced BitTorrent peers held, all swarms, by state.')
        out.push(`p2pshare_tracker_peers{state="seeder"} ${num(swarms.seeders)}`)
        out.push(`p2pshare_tracker_peers{state="leecher"} ${num(swarms.peers - swarms.seeders)}`)
      }
    }
    const catalogue = this.#sources.catalogue?.()
    if (catalogue !== undefined) {
      gauge('p2pshare_tracker_catalogue_files', 'Files in the catalogue.', catalogue.files)
      if (catalogue.legacyPeers !== undefined) {
        gauge('p2pshare_tracker_legacy_peers', 'Legacy peer registrations (POST /register) in the catalogue.', catalogue.legacyPeers)
      }
    }
    if (udp !== undefined) {
      header('p2pshare_tracker_udp_packets_total', 'counter', 'UDP tracker packets (BEP 15) by outcome.')
      out.push(`p2pshare_tracker_udp_packets_total{kind="connect"} ${num(udp.connects)}`)
      out.push(`p2pshare_tracker_udp_packets_total{kind="announce"} ${num(udp.announces)}`)
      out.push(`p2pshare_tracker_udp_packets_total{kind="scrape"} ${num(udp.scrapes)}`)
      out.push(`p2pshare_tracker_udp_packets_total{kind="error"} ${num(udp.errors)}`)
      out.push(`p2pshare_tracker_udp_packets_total{kind="dropped"} ${num(udp.dropped)}`)
      out.push(`p2pshare_tracker_udp_packets_total{kind="rate_limited"} ${num(udp.limited)}`)
    }
    const memory = process.memoryUsage()
    gauge('process_resident_memory_bytes', 'Resident memory size, bytes.', memory.rss)
    gauge('nodejs_heap_size_used_bytes', 'V8 heap used, bytes.', memory.heapUsed)
    gauge('nodejs_heap_size_total_bytes', 'V8 heap allocated, bytes.', memory.heapTotal)
    gauge('process_start_time_seconds', 'Start time of the tracker since the Unix epoch, seconds.', this.#startTimeS)
  }
}
