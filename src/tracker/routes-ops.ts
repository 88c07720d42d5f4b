/**
 * Operations: `GET /metrics` (Prometheus text format 0.0.4) and the hooks that measure and log every request fastify
 * routes. The BitTorrent fast path (announce, scrape), which does not go through fastify, records itself with the
 * same TrackerMetrics.
 *
 * A request's log line names its route pattern, never its path or query: a query may hold a private tracker's
 * passkey and a path a file name, and neither belongs in a log.
 */
import type { FastifyInstance } from 'fastify'
import type { TrackerLog } from './log.js'
import { registrationResult, UNMATCHED_ROUTE, type TrackerMetrics } from './metrics.js'

export interface OpsRoutesContext {
  metrics: TrackerMetrics
  /** Where request lines go; none: requests are measured, not logged. */
  log?: TrackerLog | undefined
}

/** Routes polled by machines (supervisors, Prometheus): their requests are logged at `debug` only. */
const QUIET_ROUTES = new Set(['/healthz', '/metrics'])

/** Content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/**
 * Installs the measuring hooks and `GET /metrics`. Call it before the other routes are added: each route's series
 * is created as the route is added (`onRoute`), so that recording a request never allocates one.
 */
export function registerOpsRoutes (app: FastifyInstance, { metrics, log }: OpsRoutesContext): void {
  app.addHook('onRoute', (route) => { metrics.addRoute(route.url) })

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE
    const status = reply.statusCode
    const seconds = reply.elapsedTime / 1000
    metrics.request(route, status, seconds)
    if (route === '/register' && request.method === 'POST') metrics.registration(registrationResult(status))
    if (log !== undefined) {
      const level = QUIET_ROUTES.has(route) && status < 400 ? 'debug' : 'info'
      if (log.enabled(level)) {
        log[level]({ method: request.method, route, status, ms: Math.round(reply.elapsedTime * 100) / 100, ip: request.ip }, 'request')
      }
    }
    done()
  })

  app.get('/metrics', (_request, reply) => {
    void reply.header('cache-control', 'no-store').type(METRICS_CONTENT_TYPE).serializer((s: string) => s).send(metrics.render())
  })
}
