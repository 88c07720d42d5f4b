/** `GET /healthz`: the process is up and answering (for supervisors and load balancers). */
import type { FastifyInstance } from 'fastify'

export function registerHealthRoutes (app: FastifyInstance): void {
  app.get('/healthz', async () => ({ status: 'ok' }))
}
