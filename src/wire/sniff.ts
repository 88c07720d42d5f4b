/**
 * One TCP port, several protocols: the first bytes of a connection decide (DESIGN.md, Wire).
 */
import { REQUEST_VERB } from './legacy/codec.js'

export type WireProtocol = 'bittorrent' | 'legacy' | 'unknown' | 'undecided'

const BT_PREFIX = Buffer.from('\x13BitTorrent protocol', 'latin1')
const LEGACY_PREFIX = Buffer.from(REQUEST_VERB, 'latin1')

/** Which protocol a connection speaks, from what it sent first; `undecided` while the prefix is still too short. */
export function sniffProtocol (first: Uint8Array): WireProtocol {
  const bt = matchPrefix(first, BT_PREFIX)
  if (bt !== 'no') return bt === 'yes' ? 'bittorrent' : 'undecided'
  // The Python server splits on whitespace, so leading whitespace before GET_CHUNK is tolerated.
  let start = 0
  while (start < first.length && (first[start] === 0x20 || (first[start]! >= 0x09 && first[start]! <= 0x0d))) start++
  const legacy = matchPrefix(first.subarray(start), LEGACY_PREFIX)
  if (legacy === 'yes') return 'legacy'
  if (legacy === 'partial' || start === first.length) return 'undecided'
  return 'unknown'
}

function matchPrefix (data: Uint8Array, prefix: Buffer): 'yes' | 'partial' | 'no' {
  const n = Math.min(data.length, prefix.length)
  for (let i = 0; i < n; i++) if (data[i] !== prefix[i]) return 'no'
  return data.length >= prefix.length ? 'yes' : 'partial'
}
