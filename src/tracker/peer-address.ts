/**
 * The address a tracker records for a peer: the connection's (HTTP) or the packet's (UDP), never one the peer
 * names — anyone could otherwise announce a victim's address and have a swarm connect to it (BEP 7 discourages
 * address parameters for that reason).
 */

/**
 * A socket's remote address as the swarms key it: an IPv4-mapped IPv6 address (a dual-stack listener) is its IPv4;
 * a zone id is dropped. Undefined when there is none (the socket is gone).
 */
export function peerAddress (ip: string | undefined): string | undefined {
  if (ip === undefined || ip === '') return undefined
  if (ip.length > 7 && ip.charCodeAt(0) === 0x3a && /^::ffff:\d/i.test(ip)) return ip.slice(7)
  const zone = ip.indexOf('%')
  return zone === -1 ? ip : ip.slice(0, zone)
}
