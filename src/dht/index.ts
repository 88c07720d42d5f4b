/**
 * The Mainline DHT (BEP 5): one node per session, a peer source for trackerless torrents. See docs/dht.md.
 *
 *   const dht = await Dht.start({ host, port, bootstrap: ['203.0.113.5:6881'], table: saved, onLog })
 *   dht.events.on('peer', ({ infoHash, peer }) => { ... })   // or lookup(hash, { onPeer })
 *   await dht.announce(infoHash, tcpPort, { signal })         // get_peers, then announce_peer to the closest
 *   save(dht.exportTable()); await dht.close()
 */
export {
  Dht, parseDhtEndpoint,
  type DhtOptions, type DhtLookupOptions, type DhtAnnounceOptions, type DhtAnnounceResult, type DhtStats,
  type DhtTableSnapshot, type DhtEvents, type DhtPeerEvent
} from './dht.js'
export { DhtError } from './errors.js'
export type { LookupResult, LookupStats } from './lookup.js'
export type { Contact, PeerAddress } from './krpc.js'
export type { Endpoint } from './rpc.js'
export { bep42NodeId, isBep42Compliant, isLocalAddress, randomNodeId, type NodeId } from './node-id.js'
export * as dhtConstants from './constants.js'
