/**
 * Magnet URIs (BEP 9): `magnet:?xt=urn:btih:<info hash>&dn=<name>&tr=<tracker>...`. Parsing goes through the
 * `magnet-uri` package; we check what it returns, since a magnet link comes from anywhere.
 */
import { decode } from 'magnet-uri'
import { ValidationError } from '../errors.js'
import { isHex40 } from './identifiers.js'

export interface Magnet {
  /** v1 info hash, 40 lowercase hex. */
  infoHash: string
  name?: string
  trackers: string[]
}

/** Longest magnet URI we parse: a few trackers and a long name fit many times over. */
const MAX_MAGNET_LENGTH = 64 * 1024

export function isMagnet (text: string): boolean {
  return /^magnet:\?/i.test(text.trim())
}

export function magnetLink (magnet: Magnet): string {
  const parts = [`xt=urn:btih:${magnet.infoHash}`]
  if (magnet.name !== undefined && magnet.name !== '') parts.push(`dn=${encodeURIComponent(magnet.name)}`)
  for (const tracker of magnet.trackers) parts.push(`tr=${encodeURIComponent(tracker)}`)
  return `magnet:?${parts.join('&')}`
}

export function parseMagnet (uri: string): Magnet {
  const text = uri.trim()
  if (!isMagnet(text)) throw new ValidationError('Not a magnet link (it must start with "magnet:?")')
  if (text.length > MAX_MAGNET_LENGTH) throw new ValidationError(`Magnet link longer than ${MAX_MAGNET_LENGTH} characters`)
  let data: ReturnType<typeof decode>
  try {
    data = decode(text)
  } catch (err) {
    throw new ValidationError(`Malformed magnet link: ${(err as Error).message}`)
  }
  const infoHash = typeof data.infoHash === 'string' && isHex40(data.infoHash) ? data.infoHash.toLowerCase() : undefined
  if (infoHash === undefined) throw new ValidationError('Magnet link has no BitTorrent v1 info hash (xt=urn:btih:<40 hex or 32 base32>)')
  const trackers = (data.announce ?? []).filter(t => /^(https?|udp):\/\//i.test(t))
  const name = Array.isArray(data.name) ? data.name[0] : data.name
  return { infoHash, trackers: [...new Set(trackers)], ...(typeof name === 'string' && name !== '' ? { name } : {}) }
}
