/**
 * The bencoded replies of `/announce` and `/scrape`.
 *
 * The compact announce reply (nearly every announce) and the scrape reply are written by hand into one buffer:
 * the compact reply is the hot path (one allocation per reply, the peers written straight from the swarm), and
 * the scrape reply's dictionary keys are raw 20-byte info hashes, which `bencode()` (UTF-8 keys) cannot write.
 * Both are checked against `bdecode` in the tests. The rest goes through `bencode()`.
 */
import { bencode } from '../content/bencode.js'
import type { CompactPicks, SwarmPeer, SwarmStats } from './swarms.js'

/** What every successful announce reply states besides its peers. */
export interface AnnounceSummary {
  /** Seeders in the swarm. */
  complete: number
  /** Leechers in the swarm. */
  incomplete: number
  /** Peers that announced `completed`. */
  downloaded: number
  /** Seconds until the next regular announce. */
  interval: number
  /** Seconds a client must wait at least before announcing again. */
  minInterval: number
}

/** BEP 3: a refused request is a dictionary with one key, `failure reason`. */
export function failureReply (reason: string): Buffer {
  return bencode({ 'failure reason': reason })
}

/**
 * The compact reply (BEP 23, BEP 7): `peers` holds the IPv4 peers, 6 bytes each; `peers6`, present only when
 * there are IPv6 peers, 18 bytes each. Keys in byte order: complete, downloaded, incomplete, interval,
 * min interval, peers, peers6. One allocation: the reply.
 */
export function compactReply (summary: AnnounceSummary, picked: CompactPicks): Buffer {
  const bytes4 = picked.length4
  const bytes6 = picked.length6
  const head = `d8:completei${summary.complete}e10:downloadedi${summary.downloaded}e10:incompletei${summary.incomplete}e` +
    `8:intervali${summary.interval}e12:min intervali${summary.minInterval}e5:peers${bytes4}:`
  const head6 = bytes6 === 0 ? '' : `6:peers6${bytes6}:`
  const out = Buffer.allocUnsafe(head.length + bytes4 + head6.length + bytes6 + 1)
  let o = out.write(head, 0, 'latin1')
  o += picked.peers.copy(out, o, 0, bytes4)
  if (bytes6 !== 0) {
    o += out.write(head6, o, 'latin1')
    o += picked.peers6.copy(out, o, 0, bytes6)
  }
  out[o] = 0x65 // 'e'
  return out
}

/** The original form (BEP 3, `compact=0`): `peers` is a list of `{ip, peer id, port}`, `peer id` left out for `no_peer_id=1`. */
export function dictionaryReply (summary: AnnounceSummary, peers: readonly SwarmPeer[], noPeerId: boolean): Buffer {
  return bencode({
    complete: summary.complete,
    downloaded: summary.downloaded,
    incomplete: summary.incomplete,
    interval: summary.interval,
    'min interval': summary.minInterval,
    peers: peers.map((peer) => ({
      ip: peer.ip,
      'peer id': noPeerId ? undefined : Buffer.from(peer.peerId, 'latin1'),
      port: peer.port
    }))
  })
}

/**
 * BEP 48: `{files: {<20-byte info hash>: {complete, downloaded, incomplete}}}`, the hashes in byte order
 * (40-hex strings sort as their bytes). Hashes without stats are left out.
 */
export function scrapeReply (entries: ReadonlyArray<readonly [infoHash: string, stats: SwarmStats]>): Buffer {
  const sorted = [...entries].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  const parts: Buffer[] = [Buffer.from('d5:filesd', 'latin1')]
  for (const [infoHash, stats] of sorted) {
    parts.push(Buffer.from('20:', 'latin1'), Buffer.from(infoHash, 'hex'), Buffer.from(
      `d8:completei${stats.complete}e10:downloadedi${stats.downloaded}e10:incompletei${stats.incomplete}ee`, 'latin1'))
  }
  parts.push(Buffer.from('ee', 'latin1'))
  return Buffer.concat(parts)
}
