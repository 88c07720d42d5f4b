/**
 * BitTorrent's HTTP tracker protocol as fastify routes: `GET /announce` (BEP 3, compact peers BEP 23, IPv6 peers
 * BEP 7) and `GET /scrape` (BEP 48), answered by the AnnounceService (announce-service.ts). Over plain HTTP the front
 * door (front-door.ts) answers these two from the socket before fastify sees them; these routes serve HTTPS, `inject()`
 * and any request the front door hands over (an announce with a body, a malformed head). Replies are bencoded,
 * `text/plain`; a refused request is HTTP 200 with a bencoded `failure reason`, since that is what BitTorrent clients
 * read (most ignore the body of any other status).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AnnounceService } from './announce-service.js'
import { peerAddress } from './peer-address.js'

// The address rule is shared with the UDP tracker; kept exported here for existing callers.
export { peerAddress }

function send (reply: FastifyReply, body: Buffer): void {
  void reply.type('text/plain').send(body)
}

export function registerAnnounceRoutes (app: FastifyInstance, service: AnnounceService): void {
  // GET only: a HEAD (which fastify would otherwise route to the GET handler) must not apply an announce.
  app.get('/announce', { exposeHeadRoute: false }, (request: FastifyRequest, reply: FastifyReply): void => {
    send(reply, service.announce(request.raw.url ?? '', peerAddress(request.ip)))
  })
  app.get('/scrape', { exposeHeadRoute: false }, (request: FastifyRequest, reply: FastifyReply): void => {
    send(reply, service.scrape(request.raw.url ?? '', peerAddress(request.ip)))
  })
}
