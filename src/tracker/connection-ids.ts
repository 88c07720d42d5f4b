/**
 * BEP 15 connection ids, made like SYN cookies: the tracker keeps no state per client. An id proves that whoever
 * sends it received the tracker's connect reply at that address and port, so a spoofed source cannot announce
 * (it never sees the id) — "the tracker has to ensure this doesn't occur" (BEP 15, "UDP connections / spoofing").
 *
 * Layout, 8 bytes:
 *
 *   byte 0     the time window the id was made in, modulo 256 (window = floor(now / windowMs))
 *   bytes 1-7  the first 7 bytes of HMAC-SHA256(secret, window as u32 || port as u16 || address as text)
 *
 * The secret is 32 random bytes per tracker process: ids die with the process, and nobody can compute one without
 * asking. An id is accepted in the window it was made in and the next CONNECTION_ID_WINDOWS_ACCEPTED - 1, so it
 * lives between 2 and 3 minutes with the defaults (60 s windows, 3 accepted): at least the 2 minutes BEP 15 asks
 * a tracker to honour, while a client uses one for 1 minute. The window tag in byte 0 lets a check compute exactly
 * one HMAC — and none at all for an id whose tag is not a window still accepted (most random guesses). A forger
 * must guess 56 bits of HMAC output per packet.
 *
 * An HMAC costs about 2 µs in node, most of an announce's own work. A client announcing several torrents sends the
 * same id again and again, so a fixed-size table (MEMO_SLOTS entries, under 0.5 MB, direct-mapped by address and port)
 * remembers the last id verified for a source with its window: the same id from the same source in the same window is
 * accepted without a new HMAC, while that window is still accepted (the age check comes first: expiry is unchanged). It is a cache, not state:
 * an entry is written only after an HMAC said yes, a lost entry costs one HMAC, and remote parties cannot grow it.
 */
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { CONNECTION_ID_WINDOW_MS, CONNECTION_ID_WINDOWS_ACCEPTED } from './limits.js'

/** Bytes of an id. */
const ID_BYTES = 8
/** Bytes of the HMAC kept in an id (after the window tag). */
const MAC_BYTES = ID_BYTES - 1
/** Window (4) + port (2) + the longest address text (an IPv6 literal with a zone id fits in 64). */
const INPUT_BYTES = 4 + 2 + 64
/** Entries of the table of ids verified last (a power of two). */
const MEMO_SLOTS = 1 << 14

/** The memo slot of a source: FNV-1a over the address text and the port. */
function slotOf (address: string, port: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ port, 0x01000193)
  return (h ^ (h >>> 15)) & (MEMO_SLOTS - 1)
}

export interface ConnectionIdOptions {
  /** Key of the HMAC; default 32 random bytes. At least 16 bytes. */
  secret?: Uint8Array | undefined
  /** Length of one time window, ms; default CONNECTION_ID_WINDOW_MS. */
  windowMs?: number | undefined
  /** Windows an id is accepted in, counting its own; default CONNECTION_ID_WINDOWS_ACCEPTED (at most 255). */
  windowsAccepted?: number | undefined
}

export class ConnectionIds {
  readonly #key: KeyObject
  readonly #windowMs: number
  readonly #accepted: number
  /** The HMAC's input, reused: checks and issues are synchronous. */
  readonly #input = Buffer.alloc(INPUT_BYTES)
  /**
   * The id verified last per slot: its source, its 8 bytes as two 32-bit words and its whole window number (the tag
   * in byte 0 wraps every 256 windows; port 0 = empty slot).
   */
  readonly #memoAddress: Array<string | undefined> = new Array<string | undefined>(MEMO_SLOTS).fill(undefined)
  readonly #memoPort = new Uint16Array(MEMO_SLOTS)
  readonly #memoId = new Uint32Array(MEMO_SLOTS * 2)
  readonly #memoWindow = new Float64Array(MEMO_SLOTS)

  constructor (options: ConnectionIdOptions = {}) {
    const secret = options.secret ?? randomBytes(32)
    if (secret.length < 16) throw new RangeError('A connection id secret is at least 16 bytes')
    this.#key = createSecretKey(secret)
    this.#windowMs = options.windowMs ?? CONNECTION_ID_WINDOW_MS
    this.#accepted = options.windowsAccepted ?? CONNECTION_ID_WINDOWS_ACCEPTED
    if (!(this.#windowMs > 0) || !Number.isSafeInteger(this.#accepted) || this.#accepted < 1 || this.#accepted > 255) {
      throw new RangeError('Invalid connection id window')
    }
  }

  /** The shortest time an id is accepted after it was made, ms. */
  get minLifetimeMs (): number {
    return (this.#accepted - 1) * this.#windowMs
  }

  /** Writes the id of (address, port) at time `now` (ms) into `out` at `offset` (8 bytes). */
  write (out: Buffer, offset: number, address: string, port: number, now: number): void {
    const window = Math.floor(now / this.#windowMs)
    out[offset] = window & 0xff
    this.#mac(window, address, port).copy(out, offset + 1, 0, MAC_BYTES)
  }

  /** Whether the 8 bytes at `packet[offset]` are an id made for (address, port) in a window still accepted at `now`. */
  verify (packet: Buffer, offset: number, address: string, port: number, now: number): boolean {
    const current = Math.floor(now / this.#windowMs)
    const age = (current - (packet[offset] as number)) & 0xff
    if (age >= this.#accepted || current - age < 0) return false
    const window = current - age
    const high = packet.readUInt32BE(offset)
    const low = packet.readUInt32BE(offset + 4)
    const slot = slotOf(address, port)
    if (this.#memoPort[slot] === port && this.#memoId[2 * slot] === high && this.#memoId[2 * slot + 1] === low &&
      this.#memoWindow[slot] === window && this.#memoAddress[slot] === address) return true
    const mac = this.#mac(window, address, port)
    // Constant time over the 7 bytes: the comparison does not tell a forger how many bytes it got right.
    let diff = 0
    for (let i = 0; i < MAC_BYTES; i++) diff |= (mac[i] as number) ^ (packet[offset + 1 + i] as number)
    if (diff !== 0) return false
    this.#memoPort[slot] = port
    this.#memoId[2 * slot] = high
    this.#memoId[2 * slot + 1] = low
    this.#memoWindow[slot] = window
    this.#memoAddress[slot] = address
    return true
  }

  #mac (window: number, address: string, port: number): Buffer {
    const input = this.#input
    input.writeUInt32BE(window >>> 0, 0)
    input.writeUInt16BE(port, 4)
    const n = input.write(address, 6, 'latin1')
    return createHmac('sha256', this.#key).update(input.subarray(0, 6 + n)).digest()
  }
}
