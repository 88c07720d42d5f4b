/**
 * BEP 10 extensions as plug-ins: each names itself (`ut_metadata`, later `ut_pex`), adds what it needs to our
 * extended handshake, and gets the messages peers send under the id we gave it. A connection knows the registry,
 * not the extensions; a torrent's registry holds the ones that apply to it (BEP 27: a private torrent's has no peer
 * exchange). The id we assign each extension is what our handshake's `m` dictionary says (BEP 10: ids are ours to
 * choose, per direction; a peer sends us messages under our ids and we send under its).
 */
import type { ExtendedHandshake } from '../wire/index.js'

/** One connection, as an extension sees it. */
export interface ExtensionPeer {
  readonly id: string
  /** The peer's extended handshake `m`: extension name → the id it wants those messages under (0: it does not). */
  readonly extensions: Readonly<Record<string, number>>
  /** Send a message of extension `name` under the peer's id for it; false when the peer does not speak it. */
  sendExtended: (name: string, payload: Uint8Array) => boolean
  /** Room for output that may wait or be dropped (the peer leaves little of ours unread). */
  hasRoom: () => boolean
  close: (reason: string) => void
}

export interface PeerExtension {
  readonly name: string
  /** Fields of our extended handshake besides `m` (BEP 9: `metadata_size`). */
  handshakeFields?: () => Omit<Partial<ExtendedHandshake>, 'm'>
  /** The peer's extended handshake arrived (it may come more than once: BEP 10 allows updates). */
  onHandshake?: (peer: ExtensionPeer, remote: ExtendedHandshake) => void
  /** A message the peer sent under our id for this extension. A ProtocolError thrown here costs the connection. */
  onMessage: (peer: ExtensionPeer, payload: Uint8Array) => void
  /** The connection's output drained: send what waited for room. */
  onDrain?: (peer: ExtensionPeer) => void
  onClose?: (peer: ExtensionPeer) => void
}

/** Extension ids are one byte, 0 being the handshake (BEP 10). */
const MAX_EXTENSION_ID = 255

export class ExtensionRegistry {
  readonly #byId = new Map<number, PeerExtension>()
  readonly #ids: Record<string, number> = {}

  constructor (extensions: readonly PeerExtension[] = []) {
    for (const e of extensions) this.register(e)
  }

  /** Adds an extension under the next free id (in registration order: ut_metadata first is 1, as before). */
  register (extension: PeerExtension): number {
    if (this.#ids[extension.name] !== undefined) throw new Error(`extension ${extension.name} registered twice`)
    const id = this.#byId.size + 1
    if (id > MAX_EXTENSION_ID) throw new Error('too many extensions')
    this.#byId.set(id, extension)
    this.#ids[extension.name] = id
    return id
  }

  /** Our `m` dictionary. */
  get m (): Record<string, number> {
    return { ...this.#ids }
  }

  idOf (name: string): number | undefined {
    return this.#ids[name]
  }

  /** Our extended handshake: `m`, and every extension's fields. */
  handshake (base: Omit<ExtendedHandshake, 'm'>): ExtendedHandshake {
    let out: ExtendedHandshake = { ...base, m: this.m }
    for (const e of this.#byId.values()) if (e.handshakeFields !== undefined) out = { ...out, ...e.handshakeFields() }
    return out
  }

  onHandshake (peer: ExtensionPeer, remote: ExtendedHandshake): void {
    for (const e of this.#byId.values()) e.onHandshake?.(peer, remote)
  }

  /** A message under one of our ids; one we never gave out is ignored (a peer may still use an old id). */
  onMessage (peer: ExtensionPeer, id: number, payload: Uint8Array): void {
    this.#byId.get(id)?.onMessage(peer, payload)
  }

  onDrain (peer: ExtensionPeer): void {
    for (const e of this.#byId.values()) e.onDrain?.(peer)
  }

  onClose (peer: ExtensionPeer): void {
    for (const e of this.#byId.values()) e.onClose?.(peer)
  }
}
