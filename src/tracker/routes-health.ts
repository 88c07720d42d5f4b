/**
 * `GET /healthz`: the process is up and answering (for supervisors and load balancers). While the tracker shuts down
 * it answers 503 `{"status": "shutting down"}`, so that a load balancer stops sending it new clients.
 */
import type { FastifyInstance } from 'fastify'

export interface HealthRoutesContext {
  /** True once a graceful shutdown has begun. */
  isClosing?: (() => boolean) | undefined
}

export function registerHealthRoutes (app: FastifyInstance, { isClosing }: HealthRoutesContext = {}): void {
  app.get('/healthz', async (_request, reply) => {
    if (isClosing?.() === true) {
      void reply.code(503).header('connection', 'close')
      return { status: 'shutting down' }
    }
    return { status: 'ok' }
  })
}
