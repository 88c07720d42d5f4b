/** Checks of what a caller asks an announce or scrape to send, shared by the HTTP and UDP tracker clients. */
import { isHex40 } from '../content/identifiers.js'
import { ValidationError } from '../errors.js'
import type { AnnounceRequest } from './announce.js'

export function checkCount (name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new ValidationError(`Invalid ${name}: ${value} (a non-negative integer)`)
}

/** The 20 bytes of a 40-hex info hash; ValidationError otherwise. */
export function checkInfoHash (infoHash: string): Buffer {
  if (!isHex40(infoHash)) throw new ValidationError(`Invalid info hash: ${infoHash} (40 hexadecimal characters)`)
  return Buffer.from(infoHash, 'hex')
}

/** Throws ValidationError for a request no tracker should be sent; returns the info hash's bytes. */
export function checkAnnounceRequest (request: AnnounceRequest): Buffer {
  const infoHash = checkInfoHash(request.infoHash)
  if (request.peerId.length !== 20) throw new ValidationError(`Invalid peer id: ${request.peerId.length} bytes (20)`)
  if (!Number.isInteger(request.port) || request.port < 1 || request.port > 65535) throw new ValidationError(`Invalid port: ${request.port} (1 to 65535)`)
  checkCount('uploaded', request.uploaded)
  checkCount('downloaded', request.downloaded)
  checkCount('left', request.left)
  if (request.numwant !== undefined) checkCount('numwant', request.numwant)
  return infoHash
}
