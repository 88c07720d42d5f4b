/**
 * The engine in one process with no sockets: transfers and sessions over an in-memory transport (memory-transport.ts)
 * and pieces in memory. A download between two transfers through a listener; the candidate list's back-off on a
 * fake clock (a refused peer is not dialled again before 30 s, then is); a private torrent taking no DHT or PEX
 * peers; a session's magnet, added paused, fetching its metadata and completing once resumed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Bitfield } from '../../src/content/index.js'
import { PeerListener } from '../../src/node/index.js'
import type { PieceStorage, UploadBlock } from '../../src/storage/index.js'
import { DIAL_RETRY_BASE_MS, Transfer } from '../../src/swarm/index.js'
import { Session } from '../../src/session/index.js'
import { memoryNetwork, type MemoryNetwork } from '../helpers/memory-transport.js'
import { tempDir, sha1Of } from '../helpers/files.js'
import { pollUntil } from '../helpers/poll.js'

const PIECE = 16 * 1024

/** Pieces in a Buffer. */
class MemoryStorage implements PieceStorage {
  readonly data: Buffer
  constructor (data: Buffer) { this.data = data }
  async writePieceAsync (index: number, piece: Uint8Array): Promise<void> { this.data.set(piece, index * PIECE) }
  blockForUpload (index: number, begin: number, length: number): UploadBlock {
    return { data: this.data.subarray(index * PIECE + begin, index * PIECE + begin + length), release: () => {} }
  }

  async readPiece (index: number): Promise<Buffer> { return this.data.subarray(index * PIECE, (index + 1) * PIECE) }
  close (): void {}
}

function hashes (data: Buffer): Buffer {
  const out: Buffer[] = []
  for (let at = 0; at < data.length; at += PIECE) out.push(createHash('sha1').update(data.subarray(at, at + PIECE)).digest())
  return Buffer.concat(out)
}

function transfer (net: MemoryNetwork, address: string, data: Buffer, infoHash: Buffer, seed: boolean, extra: Partial<ConstructorParameters<typeof Transfer>[0]> = {}): Transfer {
  const pieces = Math.ceil(data.length / PIECE)
  return new Transfer({
    infoHash,
    pieceHashes: hashes(data),
    pieceLength: PIECE,
    totalLength: data.length,
    store: new MemoryStorage(seed ? Buffer.from(data) : Buffer.alloc(data.length)),
    have: seed ? Bitfield.full(pieces) : new Bitfield(pieces),
    peerId: randomBytes(20),
    listenPort: 6881,
    seed,
    transport: net.transport(address),
    ...extra
  })
}

test('two transfers over the memory transport: the leech dials the seed\'s listener and completes', async (t) => {
  const net = memoryNetwork()
  const data = randomBytes(40 * PIECE + 123)
  const infoHash = randomBytes(20)
  const seed = transfer(net, '10.0.0.1', data, infoHash, true)
  const listener = new PeerListener({ host: '10.0.0.1', port: 6881, dialect: 'published', source: { size: () => undefined, readInto: async () => {} }, torrents: (h) => h.equals(infoHash) ? seed : undefined, transport: net.transport('10.0.0.1') })
  await listener.listen()
  const leech = transfer(net, '10.0.0.2', data, infoHash, false)
  seed.start()
  leech.start()
  t.after(async () => { leech.close(); seed.close(); await listener.close() })
  leech.addPeers([{ host: '10.0.0.1', port: 6881 }], 'manual')
  await leech.completed
  assert.equal(leech.verifiedBytes, data.length)
  assert.deepEqual(net.dials, ['10.0.0.1:6881'])
  assert.equal(seed.uploaded, data.length)
})

test('a refused candidate waits out its back-off on the transfer\'s clock, then is dialled again', async (t) => {
  const net = memoryNetwork()
  let now = 1_000_000
  const data = randomBytes(4 * PIECE)
  const leech = transfer(net, '10.0.0.2', data, randomBytes(20), false, { now: () => now })
  leech.start({ timer: false })
  t.after(() => { leech.close() })
  leech.addPeers([{ host: '10.0.0.9', port: 1 }], 'tracker')
  assert.equal(net.dials.length, 1)
  await pollUntil('the refusal', () => leech.candidates.get('10.0.0.9:1')?.failures === 1 ? true : undefined, { timeoutMs: 5_000, intervalMs: 5 })
  now += DIAL_RETRY_BASE_MS - 1
  leech.tick()
  assert.equal(net.dials.length, 1, 'not before its back-off')
  now += 2
  leech.tick()
  assert.equal(net.dials.length, 2, 'dialled again once it ran out')
  await pollUntil('the second refusal', () => leech.candidates.get('10.0.0.9:1')?.failures === 2 ? true : undefined, { timeoutMs: 5_000, intervalMs: 5 })
  now += DIAL_RETRY_BASE_MS + 1
  leech.tick()
  assert.equal(net.dials.length, 2, 'the back-off doubled')
  now += DIAL_RETRY_BASE_MS
  leech.tick()
  assert.equal(net.dials.length, 3)
})

test('a private torrent (BEP 27) takes tracker and manual peers, never DHT or PEX ones', (t) => {
  const net = memoryNetwork()
  const data = randomBytes(4 * PIECE)
  const leech = transfer(net, '10.0.0.2', data, randomBytes(20), false, { private: true, maxPeers: 0 })
  leech.start({ timer: false })
  t.after(() => { leech.close() })
  leech.addPeers([{ host: '10.0.1.1', port: 1 }], 'dht')
  leech.addPeers([{ host: '10.0.1.2', port: 1 }], 'pex')
  leech.addPeers([{ host: '10.0.1.3', port: 1 }], 'tracker')
  leech.addPeers([{ host: '10.0.1.4', port: 1 }], 'manual')
  assert.deepEqual([...['10.0.1.1:1', '10.0.1.2:1', '10.0.1.3:1', '10.0.1.4:1']].map(k => leech.candidates.get(k) !== undefined), [false, false, true, true])
})

test('sessions over the memory transport: a magnet added paused waits, and once resumed fetches its metadata and completes', async (t) => {
  const net = memoryNetwork()
  const dir = tempDir(t)
  mkdirSync(join(dir, 'content'))
  const data = randomBytes(300_000)
  writeFileSync(join(dir, 'content', 'song.bin'), data)
  const seed = await Session.open({ dataDir: join(dir, 'seed'), host: '10.0.0.1', port: 6881, transport: net.transport('10.0.0.1') })
  const leech = await Session.open({ dataDir: join(dir, 'leech'), host: '10.0.0.2', port: 6881, downloadDir: join(dir, 'out'), transport: net.transport('10.0.0.2') })
  t.after(async () => { await leech.close(); await seed.close() })
  const shared = await seed.add({ kind: 'path', path: join(dir, 'content', 'song.bin') })
  await pollUntil('seeding', () => seed.get(shared.id)?.state === 'seeding' ? true : undefined, { intervalMs: 10 })
  const added = await leech.add({ kind: 'magnet', uri: `magnet:?xt=urn:btih:${shared.infoHash}&dn=song.bin` }, { paused: true })
  leech.addPeers(added.id, [{ host: '10.0.0.1', port: 6881 }])
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(net.dials.length, 0, 'paused: nothing dialled')
  assert.equal(leech.get(added.id)?.state, 'paused')
  const states: string[] = []
  leech.events.on('state', (s) => { if (s.id === added.id) states.push(s.state) })
  await leech.resume(added.id)
  await pollUntil('seeding', () => leech.get(added.id)?.state === 'seeding' ? true : undefined, { intervalMs: 10 })
  assert.deepEqual(states.filter((s, i) => s !== states[i - 1]), ['queued', 'metadata', 'downloading', 'seeding'])
  assert.deepEqual(net.dials, ['10.0.0.1:6881'], 'one connection for the metadata and the pieces')
  assert.equal(sha1Of(join(dir, 'out', 'song.bin')), createHash('sha1').update(data).digest('hex'))
})

/** A peer at `address` in the memory network that answers our handshake with its own and then `attack` bytes. */
async function hostilePeer (net: MemoryNetwork, address: string, infoHash: Buffer, attack: Buffer): Promise<{ closed: Promise<void> }> {
  let closed: () => void = () => {}
  const done = new Promise<void>((resolve) => { closed = resolve })
  await net.transport(address).listen(address, 6881, (socket) => {
    socket.on('error', () => {})
    socket.on('close', () => { closed() })
    socket.once('data', () => {
      const reserved = Buffer.alloc(8)
      reserved[5] = 0x10 // BEP 10
      socket.write(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), reserved, infoHash, randomBytes(20), attack]))
    })
  })
  return { closed: done }
}

function message (id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt32BE(payload.length + 1, 0)
  head[4] = id
  return Buffer.concat([head, payload])
}

test('before the metadata, a bitfield past its bound or a flood of haves costs the peer its connection, and nothing is kept', async (t) => {
  const { MetadataSwarm, MAX_EARLY_BITFIELD_BYTES, MAX_EARLY_HAVES } = await import('../../src/swarm/index.js')
  const net = memoryNetwork()
  const infoHash = randomBytes(20)
  const bigBitfield = await hostilePeer(net, '10.0.9.1', infoHash, message(5, Buffer.alloc(MAX_EARLY_BITFIELD_BYTES + 1, 0xff)))
  const haves = Buffer.concat(Array.from({ length: MAX_EARLY_HAVES + 1 }, (_, i) => { const b = Buffer.alloc(4); b.writeUInt32BE(i); return message(4, b) }))
  const haveFlood = await hostilePeer(net, '10.0.9.2', infoHash, haves)
  let got = false
  const swarm = new MetadataSwarm({ infoHash, peerId: randomBytes(20), listenPort: 6881, transport: net.transport('10.0.0.2'), onMetadata: () => { got = true } })
  t.after(() => { swarm.close() })
  swarm.addPeers([{ host: '10.0.9.1', port: 6881 }, { host: '10.0.9.2', port: 6881 }], 'manual')
  await Promise.all([bigBitfield.closed, haveFlood.closed])
  await pollUntil('both dropped', () => swarm.connections === 0 ? true : undefined, { timeoutMs: 5_000, intervalMs: 5 })
  assert.equal(got, false)
  assert.equal(swarm.handOver().length, 0, 'nothing left to hand over')
})
