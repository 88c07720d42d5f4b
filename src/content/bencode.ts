/**
 * Bencode (BEP 3), our own codec rather than the `bencode` package: input comes from untrusted peers and
 * trackers, and that package's decoder has no depth bound, builds dictionaries on plain objects (a `__proto__`
 * key rewrites the prototype), accepts trailing bytes, and cannot say where a value sat in the input, which the
 * info hash needs (the SHA-1 of the info dictionary's exact bytes, never of a re-encoding: DESIGN.md).
 *
 * Values: byte strings are `Uint8Array` (Buffer), integers are `bigint`-free `number`s within the safe range,
 * lists are arrays, dictionaries are `Map`-free null-prototype objects keyed by the key's latin1 string.
 */
import { ProtocolError } from '../errors.js'

export type BValue = number | Uint8Array | BValue[] | BDict
export interface BDict { [key: string]: BValue }

/** Nesting deeper than this is refused: no real metainfo or message comes close, and recursion stays bounded. */
export const BENCODE_MAX_DEPTH = 64

const I = 0x69 // i
const L = 0x6c // l
const D = 0x64 // d
const E = 0x65 // e
const COLON = 0x3a

export interface DecodeOptions {
  /** Refuse bytes after the first value (default true). */
  strict?: boolean
  /** Record where the value of this top-level dictionary key starts and ends (for the info hash). */
  spanOf?: string
}

export interface Decoded {
  value: BValue
  /** Bytes consumed. */
  length: number
  /** The `spanOf` key's value as [start, end) in the input, when asked for and present. */
  span?: [number, number]
}

export function bdecode (data: Uint8Array, options: DecodeOptions = {}): Decoded {
  const state = { pos: 0, span: undefined as [number, number] | undefined }
  const value = decodeValue(data, state, 0, options.spanOf)
  if ((options.strict ?? true) && state.pos !== data.length) fail(`${data.length - state.pos} bytes after the value`)
  return { value, length: state.pos, ...(state.span === undefined ? {} : { span: state.span }) }
}

function fail (why: string): never {
  throw new ProtocolError('ERR_BENCODE', `Invalid bencode: ${why}`)
}

function decodeValue (data: Uint8Array, state: { pos: number, span: [number, number] | undefined }, depth: number, spanOf?: string): BValue {
  if (depth > BENCODE_MAX_DEPTH) fail(`nested deeper than ${BENCODE_MAX_DEPTH}`)
  const c = data[state.pos]
  if (c === undefined) fail('truncated')
  if (c === I) {
    const end = data.indexOf(E, state.pos + 1)
    if (end === -1) fail('unterminated integer')
    const text = latin1(data, state.pos + 1, end)
    if (!/^(0|-?[1-9]\d*)$/.test(text)) fail(`bad integer "${text.slice(0, 24)}"`)
    const n = Number(text)
    if (!Number.isSafeInteger(n)) fail(`integer out of range "${text.slice(0, 24)}"`)
    state.pos = end + 1
    return n
  }
  if (c === L) {
    state.pos++
    const list: BValue[] = []
    while (data[state.pos] !== E) {
      if (state.pos >= data.length) fail('unterminated list')
      list.push(decodeValue(data, state, depth + 1))
    }
    state.pos++
    return list
  }
  if (c === D) {
    state.pos++
    const dict: BDict = Object.create(null) as BDict
    while (data[state.pos] !== E) {
      if (state.pos >= data.length) fail('unterminated dictionary')
      if (data[state.pos] === I || data[state.pos] === L || data[state.pos] === D) fail('dictionary key is not a string')
      const keyBytes = decodeString(data, state)
      const key = Buffer.from(keyBytes.buffer, keyBytes.byteOffset, keyBytes.byteLength).toString('latin1')
      // BEP 3 wants keys sorted; some encoders in the wild do not sort, and since the info hash is taken from the raw
      // bytes that costs nothing. A repeated key is refused: two readers could disagree on what it says.
      if (key in dict) fail(`repeated dictionary key "${key.slice(0, 40)}"`)
      const start = state.pos
      dict[key] = decodeValue(data, state, depth + 1)
      if (spanOf !== undefined && depth === 0 && key === spanOf) state.span = [start, state.pos]
    }
    state.pos++
    return dict
  }
  return decodeString(data, state)
}

function decodeString (data: Uint8Array, state: { pos: number }): Uint8Array {
  const colon = data.indexOf(COLON, state.pos)
  if (colon === -1 || colon - state.pos > 16) fail('bad string length')
  const text = latin1(data, state.pos, colon)
  if (!/^(0|[1-9]\d*)$/.test(text)) fail(`bad string length "${text}"`)
  const length = Number(text)
  const start = colon + 1
  if (start + length > data.length) fail('string runs past the end')
  state.pos = start + length
  return data.subarray(start, start + length)
}

function latin1 (data: Uint8Array, start: number, end: number): string {
  return Buffer.from(data.buffer, data.byteOffset + start, end - start).toString('latin1')
}

/** Encode a value. Strings are UTF-8; dictionary keys are sorted as raw bytes (BEP 3). `undefined` entries are skipped. */
export function bencode (value: BEncodable): Buffer {
  const parts: Buffer[] = []
  encodeInto(value, parts)
  return Buffer.concat(parts)
}

export type BEncodable = number | string | Uint8Array | readonly BEncodable[] | { readonly [key: string]: BEncodable | undefined }

function encodeInto (value: BEncodable, parts: Buffer[]): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`bencode: ${value} is not a safe integer`)
    parts.push(Buffer.from(`i${value}e`, 'latin1'))
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8')
    parts.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes)
  } else if (value instanceof Uint8Array) {
    parts.push(Buffer.from(`${value.length}:`, 'latin1'), Buffer.from(value.buffer, value.byteOffset, value.byteLength))
  } else if (Array.isArray(value)) {
    parts.push(Buffer.from('l'))
    for (const item of value as readonly BEncodable[]) encodeInto(item, parts)
    parts.push(Buffer.from('e'))
  } else {
    const dict = value as { readonly [key: string]: BEncodable | undefined }
    const keys = Object.keys(dict).filter(k => dict[k] !== undefined).map(k => ({ k, bytes: Buffer.from(k, 'utf8') }))
    keys.sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    parts.push(Buffer.from('d'))
    for (const { k, bytes } of keys) {
      parts.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes)
      encodeInto(dict[k] as BEncodable, parts)
    }
    parts.push(Buffer.from('e'))
  }
}

/** Typed accessors for decoded dictionaries: each returns undefined when the key is absent or of another type. */
export const bget = {
  dict (d: BDict, key: string): BDict | undefined {
    const v = d[key]
    return v !== undefined && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) ? v : undefined
  },
  bytes (d: BDict, key: string): Uint8Array | undefined {
    const v = d[key]
    return v instanceof Uint8Array ? v : undefined
  },
  string (d: BDict, key: string): string | undefined {
    const v = d[key]
    return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8') : undefined
  },
  int (d: BDict, key: string): number | undefined {
    const v = d[key]
    return typeof v === 'number' ? v : undefined
  },
  list (d: BDict, key: string): BValue[] | undefined {
    const v = d[key]
    return Array.isArray(v) ? v : undefined
  }
}

export function isBDict (v: BValue | undefined): v is BDict {
  return v !== undefined && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v)
}
