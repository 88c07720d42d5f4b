/**
 * The BEP 10 extension registry and ut_metadata (BEP 9) as its extension, over stand-in connections: ids, the
 * handshake's fields, serving with a deferral while a peer does not read, fetching with a copy per announced size,
 * and a copy that does not hash right costing its senders their connections while the others are asked again.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { decodeMetadataMessage, encodeMetadataMessage, METADATA_PIECE_SIZE } from '../../src/wire/index.js'
import { ExtensionRegistry, UtMetadata, type ExtensionPeer } from '../../src/swarm/index.js'

class StandIn implements ExtensionPeer {
  readonly id: string
  extensions: Record<string, number> = { ut_metadata: 3 }
  sent: Array<{ name: string, payload: Uint8Array }> = []
  room = true
  closed: string | undefined
  constructor (id: string) { this.id = id }
  sendExtended (name: string, payload: Uint8Array): boolean { this.sent.push({ name, payload }); return true }
  hasRoom (): boolean { return this.room }
  close (reason: string): void { this.closed = reason }
  requests (): number[] { return this.sent.map(s => decodeMetadataMessage(s.payload)).filter(m => m.type === 'request').map(m => m.piece) }
}

function piecesOf (metadata: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < metadata.length; at += METADATA_PIECE_SIZE) out.push(metadata.subarray(at, at + METADATA_PIECE_SIZE))
  return out
}

const data = (piece: number, totalSize: number, bytes: Buffer): Buffer => encodeMetadataMessage({ type: 'data', piece, totalSize, data: bytes })

test('ids are given in registration order; the handshake carries m and each extension\'s fields', () => {
  const metadata = randomBytes(40_000)
  const registry = new ExtensionRegistry([new UtMetadata({ metadata: () => metadata })])
  assert.deepEqual(registry.m, { ut_metadata: 1 })
  assert.equal(registry.register({ name: 'ut_pex', onMessage: () => {} }), 2)
  assert.throws(() => registry.register({ name: 'ut_pex', onMessage: () => {} }), /twice/)
  const h = registry.handshake({ v: 'x', p: 1 })
  assert.deepEqual(h.m, { ut_metadata: 1, ut_pex: 2 })
  assert.equal(h.metadataSize, 40_000)
})

test('serving: each piece on request, a reject past the end, and pieces asked while the peer does not read wait for its drain', () => {
  const metadata = randomBytes(40_000)
  const registry = new ExtensionRegistry([new UtMetadata({ metadata: () => metadata })])
  const peer = new StandIn('a')
  registry.onMessage(peer, 1, encodeMetadataMessage({ type: 'request', piece: 2 }))
  const reply = decodeMetadataMessage(peer.sent[0]?.payload ?? Buffer.alloc(0))
  assert.equal(reply.type, 'data')
  if (reply.type === 'data') assert.deepEqual(reply.data, metadata.subarray(2 * METADATA_PIECE_SIZE))
  registry.onMessage(peer, 1, encodeMetadataMessage({ type: 'request', piece: 3 }))
  assert.equal(decodeMetadataMessage(peer.sent[1]?.payload ?? Buffer.alloc(0)).type, 'reject')
  peer.room = false
  for (let i = 0; i < 50; i++) registry.onMessage(peer, 1, encodeMetadataMessage({ type: 'request', piece: 0 }))
  assert.equal(peer.sent.length, 2, 'nothing sent while the peer leaves our output unread')
  peer.room = true
  registry.onDrain(peer)
  assert.equal(peer.sent.length, 3, 'the deferred piece once, however often it was asked')
  assert.throws(() => { registry.onMessage(peer, 1, Buffer.from('garbage')) }, /ut_metadata/)
})

test('fetching: pieces from several peers; a copy that does not hash right closes its senders and the others are asked again', () => {
  const metadata = randomBytes(3 * METADATA_PIECE_SIZE + 100)
  const infoHash = createHash('sha1').update(metadata).digest()
  let got: Buffer | undefined
  const registry = new ExtensionRegistry([new UtMetadata({ metadata: () => undefined, fetch: { infoHash, onMetadata: (raw) => { got = raw } } })])
  const liar = new StandIn('liar')
  const honest = new StandIn('honest')
  registry.onHandshake(liar, { m: liar.extensions, metadataSize: metadata.length })
  registry.onHandshake(honest, { m: honest.extensions, metadataSize: metadata.length })
  assert.deepEqual(liar.requests(), [0, 1, 2, 3])
  // The liar answers everything with junk first.
  for (const [i, p] of piecesOf(metadata).entries()) registry.onMessage(liar, 1, data(i, metadata.length, randomBytes(p.length)))
  assert.match(liar.closed ?? '', /does not match the info hash/)
  assert.equal(got, undefined)
  assert.deepEqual(honest.requests(), [0, 1, 2, 3, 0, 1, 2, 3], 'asked again')
  for (const [i, p] of piecesOf(metadata).entries()) registry.onMessage(honest, 1, data(i, metadata.length, p))
  assert.deepEqual(got, metadata)
  assert.equal(honest.closed, undefined)
})

test('fetching: a peer announcing another size fills its own copy and cannot hold up the honest one; pieces of the wrong size cost the connection', () => {
  const metadata = randomBytes(METADATA_PIECE_SIZE + 1)
  const infoHash = createHash('sha1').update(metadata).digest()
  let got: Buffer | undefined
  const registry = new ExtensionRegistry([new UtMetadata({ metadata: () => undefined, fetch: { infoHash, onMetadata: (raw) => { got = raw } } })])
  const odd = new StandIn('odd')
  registry.onHandshake(odd, { m: odd.extensions, metadataSize: 5 * METADATA_PIECE_SIZE })
  const honest = new StandIn('honest')
  registry.onHandshake(honest, { m: honest.extensions, metadataSize: metadata.length })
  assert.throws(() => { registry.onMessage(honest, 1, data(0, metadata.length, Buffer.alloc(10))) }, /wrong size/)
  const unasked = new StandIn('unasked')
  registry.onMessage(unasked, 1, data(0, metadata.length, metadata.subarray(0, METADATA_PIECE_SIZE)))
  for (const [i, p] of piecesOf(metadata).entries()) registry.onMessage(honest, 1, data(i, metadata.length, p))
  assert.deepEqual(got, metadata)
})
