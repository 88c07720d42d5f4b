/**
 * The query strings of `GET /announce` (BEP 3) and `GET /scrape` (BEP 48), parsed from the raw request URL.
 *
 * `info_hash` and `peer_id` are 20 raw bytes, percent-encoded. fastify's query parser decodes values to UTF-8
 * strings, which turns every byte sequence that is not valid UTF-8 into U+FFFD: the bytes are lost. So these
 * routes read `request.raw.url` themselves. Decoding follows application/x-www-form-urlencoded, as Node's
 * `querystring` and WHATWG `URLSearchParams` do: `%XX` is a byte, `+` is a space (0x20), any other character is
 * its own byte. (Node's HTTP parser refuses raw bytes above 0x7F in a request line, so clients percent-encode
 * them; a character 0x80-0xFF, which only `inject()` can send, counts as that byte, anything above as malformed.)
 * Parameter names are matched literally (no client percent-encodes them). A repeated parameter: the first
 * value counts (announce); scrape takes every `info_hash`.
 *
 * The route is the tracker's hot path: one pass over the string, no intermediate arrays or per-parameter
 * strings; the two 20-byte values are decoded into a scratch buffer (the handler is synchronous, so one
 * buffer serves every request).
 */
import { P2PError } from '../errors.js'
import { DEFAULT_NUMWANT, MAX_NUMWANT, TRACKER_MAX_ANNOUNCE_URL_BYTES, TRACKER_SCRAPE_MAX_HASHES } from './limits.js'

/** A request the tracker refuses: answered HTTP 200 with a bencoded `failure reason` (what clients read). */
export class AnnounceFailure extends P2PError {
  constructor (reason: string) {
    super('ERR_ANNOUNCE_REFUSED', reason)
  }
}

export type AnnounceEvent = '' | 'started' | 'completed' | 'stopped'

export interface AnnounceParams {
  /** 40 lower-case hex. */
  infoHash: string
  /** The 20 bytes as a latin1 string (one character per byte). */
  peerId: string
  port: number
  uploaded: number
  downloaded: number
  left: number
  event: AnnounceEvent
  /** Already clamped to 0..MAX_NUMWANT. */
  numwant: number
  /** BEP 23: true unless the client sent `compact=0`. */
  compact: boolean
  /** `no_peer_id=1`: leave `peer id` out of dictionary-form peers. */
  noPeerId: boolean
}

/** Both identifiers are SHA-1 sized. */
const ID_BYTES = 20
/** Scratch for one decoded identifier. Bytes past 20 are counted, never written. */
const scratch = Buffer.alloc(ID_BYTES)

/** Hex digit values by char code, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1)
for (let c = 0; c < 10; c++) HEX_VALUE[0x30 + c] = c
for (let c = 0; c < 6; c++) {
  HEX_VALUE[0x41 + c] = 10 + c
  HEX_VALUE[0x61 + c] = 10 + c
}

function hexValue (code: number): number {
  return code < 128 ? HEX_VALUE[code] as number : -1
}

const MALFORMED = -1

/**
 * Percent-decodes `text[start, end)` into `scratch` and returns the number of bytes it stands for (only the
 * first 20 are written), or MALFORMED for a `%` without two hex digits or a character above 0xFF (which no
 * HTTP request line carries).
 */
function decodeId (text: string, start: number, end: number): number {
  let n = 0
  for (let i = start; i < end; i++) {
    let code = text.charCodeAt(i)
    if (code === 0x25) { // '%'
      if (i + 2 >= end) return MALFORMED
      const high = hexValue(text.charCodeAt(i + 1))
      const low = hexValue(text.charCodeAt(i + 2))
      if (high < 0 || low < 0) return MALFORMED
      code = (high << 4) | low
      i += 2
    } else if (code === 0x2b) { // '+'
      code = 0x20
    } else if (code > 0xff) {
      return MALFORMED
    }
    if (n < ID_BYTES) scratch[n] = code
    n++
  }
  return n
}

const NOT_A_NUMBER = -1

/** A non-negative decimal integer in `text[start, end)` (digits only, within 2^53), else NOT_A_NUMBER. */
function decodeUint (text: string, start: number, end: number): number {
  if (start >= end || end - start > 16) return NOT_A_NUMBER
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 0x30
    if (digit < 0 || digit > 9) return NOT_A_NUMBER
    value = value * 10 + digit
  }
  return Number.isSafeInteger(value) ? value : NOT_A_NUMBER
}

/** `numwant`: digits of any length, clamped to MAX_NUMWANT; anything else (empty, `-1`, text) is the default. */
function decodeNumwant (text: string, start: number, end: number): number {
  if (start >= end) return DEFAULT_NUMWANT
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 0x30
    if (digit < 0 || digit > 9) return DEFAULT_NUMWANT
    if (value <= MAX_NUMWANT) value = value * 10 + digit
  }
  return Math.min(value, MAX_NUMWANT)
}

/** Whether `text[start, end)` is exactly `word`. */
function equals (text: string, start: number, end: number, word: string): boolean {
  return end - start === word.length && text.startsWith(word, start)
}

function idFailure (name: string, count: number): AnnounceFailure {
  return new AnnounceFailure(count === MALFORMED
    ? `Invalid parameter: ${name}: malformed percent-encoding`
    : `Invalid parameter: ${name}: must be 20 bytes, percent-encoded (got ${count})`)
}

function uintFailure (name: string): AnnounceFailure {
  return new AnnounceFailure(`Invalid parameter: ${name}: must be a non-negative integer`)
}

/** The refusal of a request URL longer than TRACKER_MAX_ANNOUNCE_URL_BYTES, read no further. */
function urlTooLong (): AnnounceFailure {
  return new AnnounceFailure(`Request URL too long (at most ${TRACKER_MAX_ANNOUNCE_URL_BYTES} bytes)`)
}

/**
 * The start of the query in a request URL (after `?`), or -1 when there is none. Throws AnnounceFailure for a URL
 * longer than TRACKER_MAX_ANNOUNCE_URL_BYTES (an HTTP request line is ASCII: one character is one byte).
 */
function queryStart (url: string): number {
  if (url.length > TRACKER_MAX_ANNOUNCE_URL_BYTES) throw urlTooLong()
  const q = url.indexOf('?')
  return q === -1 ? -1 : q + 1
}

// Value ranges of the parameters one announce reads; -1 = absent. Module scope: the parse is synchronous.
const INFO_HASH = 0
const PEER_ID = 1
const PORT = 2
const UPLOADED = 3
const DOWNLOADED = 4
const LEFT = 5
const EVENT = 6
const NUMWANT = 7
const COMPACT = 8
const NO_PEER_ID = 9
const NAMES = ['info_hash', 'peer_id', 'port', 'uploaded', 'downloaded', 'left', 'event', 'numwant', 'compact', 'no_peer_id'] as const
const valueStart = new Int32Array(NAMES.length)
const valueEnd = new Int32Array(NAMES.length)

/** Which announce parameter `text[start, end)` names, or -1: by length, then by first letter, then in full. */
function paramIndex (text: string, start: number, end: number): number {
  let k = -1
  switch (end - start) {
    case 4: k = text.charCodeAt(start) === 0x70 ? PORT : LEFT; break // p
    case 5: k = EVENT; break
    case 7: {
      const c = text.charCodeAt(start)
      k = c === 0x70 ? PEER_ID : c === 0x6e ? NUMWANT : COMPACT // p, n
      break
    }
    case 8: k = UPLOADED; break
    case 9: k = INFO_HASH; break
    case 10: k = text.charCodeAt(start) === 0x64 ? DOWNLOADED : NO_PEER_ID; break // d
    default: return -1
  }
  return text.startsWith(NAMES[k] as string, start) ? k : -1
}

/** Parameters that must be present, in the order a missing one is reported. */
const REQUIRED = [INFO_HASH, PEER_ID, PORT, LEFT] as const

/**
 * Parses an announce URL (`/announce?info_hash=...`, the raw request URL). Throws AnnounceFailure with the
 * failure reason: a URL longer than TRACKER_MAX_ANNOUNCE_URL_BYTES, the first missing required parameter (`info_hash`, `peer_id`, `port`, `left`), else the
 * first bad value in the order info_hash, peer_id, port, uploaded, downloaded, left, event. `numwant` is
 * advisory: absent, negative or not a number means the default; above MAX_NUMWANT, MAX_NUMWANT. `key`,
 * `trackerid`, `ip`, `ipv4`, `ipv6` and unknown parameters are ignored.
 */
export function parseAnnounce (url: string): AnnounceParams {
  valueStart.fill(-1)
  const q = queryStart(url)
  if (q !== -1) {
    let i = q
    const length = url.length
    while (i <= length) {
      let amp = url.indexOf('&', i)
      if (amp === -1) amp = length
      if (amp > i) {
        let eq = url.indexOf('=', i)
        if (eq === -1 || eq > amp) eq = amp
        const k = paramIndex(url, i, eq)
        if (k !== -1 && valueStart[k] === -1) {
          valueStart[k] = eq === amp ? amp : eq + 1
          valueEnd[k] = amp
        }
      }
      i = amp + 1
    }
  }
  for (const k of REQUIRED) {
    if (valueStart[k] === -1) throw new AnnounceFailure(`Missing parameter: ${NAMES[k]}`)
  }
  const start = (k: number): number => valueStart[k] as number
  const end = (k: number): number => valueEnd[k] as number

  let count = decodeId(url, start(INFO_HASH), end(INFO_HASH))
  if (count !== ID_BYTES) throw idFailure('info_hash', count)
  const infoHash = scratch.toString('hex')
  count = decodeId(url, start(PEER_ID), end(PEER_ID))
  if (count !== ID_BYTES) throw idFailure('peer_id', count)
  const peerId = scratch.toString('latin1')

  const port = decodeUint(url, start(PORT), end(PORT))
  if (port < 1 || port > 65535) throw new AnnounceFailure('Invalid parameter: port: must be an integer from 1 to 65535')
  let uploaded = 0
  if (start(UPLOADED) !== -1) {
    uploaded = decodeUint(url, start(UPLOADED), end(UPLOADED))
    if (uploaded === NOT_A_NUMBER) throw uintFailure('uploaded')
  }
  let downloaded = 0
  if (start(DOWNLOADED) !== -1) {
    downloaded = decodeUint(url, start(DOWNLOADED), end(DOWNLOADED))
    if (downloaded === NOT_A_NUMBER) throw uintFailure('downloaded')
  }
  const left = decodeUint(url, start(LEFT), end(LEFT))
  if (left === NOT_A_NUMBER) throw uintFailure('left')

  let event: AnnounceEvent = ''
  const e0 = start(EVENT)
  if (e0 !== -1) {
    const e1 = end(EVENT)
    if (equals(url, e0, e1, 'started')) event = 'started'
    else if (equals(url, e0, e1, 'completed')) event = 'completed'
    else if (equals(url, e0, e1, 'stopped')) event = 'stopped'
    // BEP 21's `paused` (a partial seed that stopped downloading) is a regular announce to us.
    else if (e0 !== e1 && !equals(url, e0, e1, 'paused')) {
      throw new AnnounceFailure('Invalid parameter: event: must be started, completed, stopped or empty')
    }
  }

  const numwant = start(NUMWANT) === -1 ? DEFAULT_NUMWANT : decodeNumwant(url, start(NUMWANT), end(NUMWANT))
  // BEP 23: compact is advisory and the default; only an explicit 0 asks for the dictionary form.
  const compact = !(start(COMPACT) !== -1 && equals(url, start(COMPACT), end(COMPACT), '0'))
  const noPeerId = start(NO_PEER_ID) !== -1 && equals(url, start(NO_PEER_ID), end(NO_PEER_ID), '1')

  return { infoHash, peerId, port, uploaded, downloaded, left, event, numwant, compact, noPeerId }
}

/**
 * Parses a scrape URL: every `info_hash` (20 bytes each), as distinct 40 lower-case hex strings in request
 * order. Throws AnnounceFailure when there is none (full scrape is not served), more than
 * TRACKER_SCRAPE_MAX_HASHES, or a malformed one, or for a URL longer than TRACKER_MAX_ANNOUNCE_URL_BYTES.
 */
export function parseScrape (url: string, maxHashes = TRACKER_SCRAPE_MAX_HASHES): string[] {
  const hashes: string[] = []
  let seen = 0
  const q = queryStart(url)
  if (q !== -1) {
    let i = q
    const length = url.length
    while (i <= length) {
      let amp = url.indexOf('&', i)
      if (amp === -1) amp = length
      let eq = url.indexOf('=', i)
      if (eq === -1 || eq > amp) eq = amp
      if (equals(url, i, eq, 'info_hash')) {
        if (++seen > maxHashes) throw new AnnounceFailure(`Too many info_hash parameters (at most ${maxHashes} per scrape)`)
        const count = decodeId(url, eq === amp ? amp : eq + 1, amp)
        if (count !== ID_BYTES) throw idFailure('info_hash', count)
        const hex = scratch.toString('hex')
        if (!hashes.includes(hex)) hashes.push(hex)
      }
      i = amp + 1
    }
  }
  if (hashes.length === 0) throw new AnnounceFailure('Missing parameter: info_hash (this tracker does not serve a full scrape)')
  return hashes
}
