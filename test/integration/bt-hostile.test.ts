/**
 * Hostile and odd BitTorrent peers against a seeding transfer, over real sockets on 127.0.0.1: each costs only its
 * own connection, and legitimate requests keep their answers.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bencode, Bitfield } from '../../src/content/index.js'
import { PeerListener } from '../../src/node/index.js'
import { PieceStore } from '../../src/storage/index.js'
import { Transfer } from '../../src/swarm/index.js'
import { createServer } from 'node:net'
import { decodeHandshake, decodeMetadataMessage, encode, encodeExtendedHandshake, encodeHandshake, encodeMetadataMessage, MessageDecoder, type Message } from '../../src/wire/index.js'
import { tempDir } from '../helpers/files.js'
import { metadataProbe } from '../helpers/metadata.js'

const PIECE = 16 * 1024

/** A seeding transfer; `served` replaces the info dictionary it hands out over ut_metadata (a lying peer). */
async function seed (t: TestContext, served?: (info: Buffer) => Buffer, content?: Buffer): Promise<{ port: number, infoHash: Buffer, info: Buffer, data: Buffer }> {
  const dir = tempDir(t)
  const data = content ?? randomBytes(4 * PIECE)
  writeFileSync(join(dir, 'f'), data)
  const pieces = Buffer.concat([0, 1, 2, 3].map(i => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest()))
  const info = bencode({ length: data.length, name: 'f', 'piece length': PIECE, pieces })
  const infoHash = createHash('sha1').update(info).digest()
  const store = PieceStore.open([{ path: join(dir, 'f'), length: data.length }], PIECE, 'read')
  const ref: { transfer?: Transfer } = {}
  const listener = new PeerListener({ host: '127.0.0.1', port: 0, source: { size: () => undefined, readInto: async () => {} }, dialect: 'published', torrents: (h) => h.equals(infoHash) ? ref.transfer : undefined })
  const { port } = await listener.listen()
  const transfer = new Transfer({ infoHash, pieceHashes: pieces, pieceLength: PIECE, totalLength: data.length, store, have: Bitfield.full(4), peerId: randomBytes(20), listenPort: port, metadata: served?.(info) ?? info, seed: true })
  ref.transfer = transfer
  transfer.start()
  t.after(async () => { transfer.close(); await listener.close(); store.close() })
  return { port, infoHash, info, data }
}

/** A scripted peer: sends its handshake, collects what comes back as messages. */
async function rawPeer (t: TestContext, port: number, infoHash: Buffer): Promise<{ socket: Socket, messages: Message[], closed: Promise<void>, next: (type: string) => Promise<Message> }> {
  const messages: Message[] = []
  const waiters: Array<() => void> = []
  let handshake = Buffer.alloc(0)
  const decoder = new MessageDecoder({
    onMessage: (m) => { messages.push(m); for (const w of waiters.splice(0)) w() },
    onBlockStart: () => {}, onBlockData: () => {}, onBlockEnd: () => {}
  }, { maxBitfieldBytes: 1 })
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  t.after(() => { socket.destroy() })
  const closed = new Promise<void>(resolve => socket.once('close', () => { resolve() }))
  socket.on('data', (d: Buffer) => {
    if (handshake.length < 68) {
      handshake = Buffer.concat([handshake, d])
      if (handshake.length < 68) return
      decodeHandshake(handshake)
      decoder.push(handshake.subarray(68))
      return
    }
    decoder.push(d)
  })
  await new Promise<void>(resolve => socket.once('connect', () => { resolve() }))
  socket.write(encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } }))
  const next = async (type: string): Promise<Message> => {
    for (let i = 0; i < 100; i++) {
      const found = messages.find(m => m.type === type)
      if (found !== undefined) { messages.splice(messages.indexOf(found), 1); return found }
      await Promise.race([new Promise<void>(resolve => waiters.push(resolve)), new Promise(resolve => setTimeout(resolve, 50))])
    }
    throw new Error(`no ${type} message`)
  }
  return { socket, messages, closed, next }
}

test('ut_metadata: a piece of the info dictionary is served, a piece past its end is rejected', async (t) => {
  const { port, infoHash, info } = await seed(t)
  const peer = await rawPeer(t, port, infoHash)
  peer.socket.write(encode.extended(0, bencode({ m: { ut_metadata: 3 } })))
  assert.equal((await peer.next('haveAll')).type, 'haveAll')
  peer.socket.write(encode.extended(1, bencode({ msg_type: 0, piece: 0 })))
  peer.socket.write(encode.extended(1, bencode({ msg_type: 0, piece: 7 })))
  const answers: Array<ReturnType<typeof decodeMetadataMessage>> = []
  while (answers.length < 2) {
    const m = await peer.next('extended')
    if (m.type === 'extended' && m.id === 3) answers.push(decodeMetadataMessage(m.payload))
  }
  assert.deepEqual(answers[0], { type: 'data', piece: 0, totalSize: info.length, data: info })
  assert.deepEqual(answers[1], { type: 'reject', piece: 7 })
})

test('hostile messages cost the sender its connection: bad bencode, a bitfield too long, a have past the end, a huge frame', async (t) => {
  const { port, infoHash } = await seed(t)
  const attacks: Buffer[] = [
    encode.extended(1, Buffer.from('d8:msg_typei0e5:piece')), // truncated bencode on ut_metadata
    encode.extended(0, Buffer.from('le')), // extended handshake that is not a dictionary
    encode.bitfield(Buffer.alloc(9)), // 9 bytes for 4 pieces
    encode.have(4), // piece 4 of 0..3
    Buffer.from([0xff, 0xff, 0xff, 0xff, 7]) // a 4 GiB piece message
  ]
  for (const attack of attacks) {
    const peer = await rawPeer(t, port, infoHash)
    await peer.next('haveAll')
    peer.socket.write(attack)
    await Promise.race([peer.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error(`not closed after ${attack.subarray(0, 8).toString('hex')}`)), 3_000))])
  }
  // The seed still serves an honest peer afterwards.
  const honest = await rawPeer(t, port, infoHash)
  await honest.next('haveAll')
  honest.socket.write(encode.interested())
  assert.equal((await honest.next('unchoke')).type, 'unchoke')
})

/** A peer that offers metadata of `size` bytes and answers every request with a piece of the wrong length. */
async function shortMetadataPeer (t: TestContext, infoHash: Buffer, size: number): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', () => {
      socket.write(encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: false, dht: false } }))
      socket.write(encode.extended(0, encodeExtendedHandshake({ m: { ut_metadata: 2 }, metadataSize: size })))
      socket.on('data', () => {
        socket.write(encode.extended(1, encodeMetadataMessage({ type: 'data', piece: 0, totalSize: size, data: Buffer.alloc(10) })))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  return (server.address() as { port: number }).port
}

test('ut_metadata from peers: wrong bytes or pieces of the wrong size are refused, and an honest peer is used', async (t) => {
  const honest = await seed(t)
  const liar = await seed(t, (info) => Buffer.concat([info.subarray(0, info.length - 1), Buffer.from('x')]), honest.data)
  const short = await shortMetadataPeer(t, honest.infoHash, honest.info.length)
  // A magnet's metadata phase (the swarm a session torrent runs before it has its info dictionary).
  const probe = metadataProbe(t, honest.infoHash, [{ host: '127.0.0.1', port: liar.port }, { host: '127.0.0.1', port: short }])
  await assert.rejects(probe.within(3_000), /no metadata in 3000 ms/)
  assert.ok(probe.logs.some(l => l.includes('does not match the info hash')), probe.logs.join('\n'))
  assert.ok(probe.logs.some(l => l.includes('metadata piece 0 of the wrong size')), probe.logs.join('\n'))
  assert.equal(probe.swarm.peers, 0, 'both lost their connections')
  probe.swarm.addPeers([{ host: '127.0.0.1', port: honest.port }])
  const got = await probe.within(10_000)
  assert.ok(got.equals(honest.info), 'the honest peer\'s copy, checked against the info hash')
})
