/**
 * Which pieces a peer has: BEP 3's bitfield, high bit of the first byte is piece 0. Spare bits at the end must be
 * zero; a bitfield of the wrong length or with spare bits set is a protocol error (the sender costs its connection).
 */
import { ProtocolError } from '../errors.js'

export class Bitfield {
  readonly size: number
  readonly bytes: Uint8Array
  #count = 0

  constructor (size: number, bytes?: Uint8Array) {
    this.size = size
    this.bytes = new Uint8Array(Math.ceil(size / 8))
    if (bytes !== undefined) {
      if (bytes.length !== this.bytes.length) throw new ProtocolError('ERR_BAD_BITFIELD', `bitfield of ${bytes.length} bytes for ${size} pieces`)
      const spare = this.bytes.length * 8 - size
      if (spare > 0 && ((bytes[bytes.length - 1] ?? 0) & ((1 << spare) - 1)) !== 0) throw new ProtocolError('ERR_BAD_BITFIELD', 'bitfield has spare bits set')
      this.bytes.set(bytes)
      for (const b of this.bytes) this.#count += POPCOUNT[b] ?? 0
    }
  }

  static full (size: number): Bitfield {
    const b = new Bitfield(size)
    for (let i = 0; i < size; i++) b.set(i)
    return b
  }

  /** Pieces set. */
  get count (): number {
    return this.#count
  }

  get complete (): boolean {
    return this.#count === this.size
  }

  has (index: number): boolean {
    return ((this.bytes[index >> 3] ?? 0) & (0x80 >> (index & 7))) !== 0
  }

  /** Set a piece; returns false if it was already set. */
  set (index: number): boolean {
    if (index < 0 || index >= this.size) throw new ProtocolError('ERR_BAD_INDEX', `piece ${index} outside 0..${this.size - 1}`)
    const mask = 0x80 >> (index & 7)
    const byte = this.bytes[index >> 3] ?? 0
    if ((byte & mask) !== 0) return false
    this.bytes[index >> 3] = byte | mask
    this.#count++
    return true
  }

  clear (index: number): void {
    const mask = 0x80 >> (index & 7)
    const byte = this.bytes[index >> 3] ?? 0
    if ((byte & mask) === 0) return
    this.bytes[index >> 3] = byte & ~mask
    this.#count--
  }
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0
  for (let x = b; x !== 0; x >>= 1) n += x & 1
  return n
})
