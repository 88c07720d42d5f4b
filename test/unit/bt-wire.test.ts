import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect, createServer, type AddressInfo } from 'node:net'
import {
  decodeExtendedHandshake, decodeHandshake, decodeMetadataMessage, encode, encodeExtendedHandshake, encodeHandshake,
  encodeMessage, encodeMetadataMessage, MessageDecoder, PeerWire, type Message
} from '../../src/wire/index.js'

type Event = Message | { type: 'piece', index: number, begin: number, block: Buffer }

/** Decode `chunks` in order; collect messages, with piece blocks reassembled from their streamed slices. */
function decodeAll (chunks: Uint8Array[], maxBitfieldBytes = 16): Event[] {
  const events: Event[] = []
  let block: { index: number, begin: number, data: Buffer } | undefined
  const decoder = new MessageDecoder({
    onMessage: (m) => events.push(m),
    onBlockStart: (index, begin, length) => { block = { index, begin, data: Buffer.alloc(length) } },
    onBlockData: (data, offset) => { block?.data.set(data, offset) },
    onBlockEnd: () => { if (block !== undefined) events.push({ type: 'piece', index: block.index, begin: block.begin, block: block.data }) }
  }, { maxBitfieldBytes })
  for (const c of chunks) decoder.push(c)
  assert.equal(decoder.idle, true, 'no partial message left')
  return events
}

const ALL: Message[] = [
  { type: 'keepAlive' }, { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'notInterested' },
  { type: 'have', index: 123456 }, { type: 'bitfield', bitfield: Buffer.from([0xff, 0x80]) },
  { type: 'request', index: 1, begin: 16384, length: 16384 }, { type: 'cancel', index: 2, begin: 0, length: 100 },
  { type: 'port', port: 6881 }, { type: 'suggest', index: 9 }, { type: 'haveAll' }, { type: 'haveNone' },
  { type: 'reject', index: 3, begin: 32768, length: 16384 }, { type: 'allowedFast', index: 4 },
  { type: 'extended', id: 0, payload: Buffer.from('d1:md11:ut_metadatai1eee') }
]

test('handshake: round trip with the reserved bits of BEP 10, BEP 6 and BEP 5', () => {
  const h = { infoHash: randomBytes(20), peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } }
  const bytes = encodeHandshake(h)
  assert.equal(bytes.length, 68)
  assert.equal(bytes[25], 0x10)
  assert.equal(bytes[27], 0x04)
  assert.deepEqual(decodeHandshake(bytes), h)
  const bad = Buffer.from(bytes)
  bad[1] = 0x62
  assert.throws(() => decodeHandshake(bad), { code: 'ERR_HANDSHAKE' })
  assert.throws(() => decodeHandshake(bytes.subarray(0, 67)), { code: 'ERR_HANDSHAKE' })
  assert.throws(() => encodeHandshake({ ...h, peerId: Buffer.alloc(19) }), { code: 'ERR_HANDSHAKE' })
})

test('every message round-trips through encode and the decoder', () => {
  const block = randomBytes(16384)
  const stream = Buffer.concat([...ALL.map(encodeMessage), encode.piece(7, 16384, block)])
  assert.deepEqual(decodeAll([stream]), [...ALL, { type: 'piece', index: 7, begin: 16384, block }])
})

test('the decoder gives the same messages however the stream is split: at every offset, and byte by byte', () => {
  const block = randomBytes(300)
  const stream = Buffer.concat([...ALL.map(encodeMessage), encode.piece(1, 0, block), encode.piece(2, 0, Buffer.alloc(0)), encode.have(5)])
  const expected = decodeAll([stream])
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(decodeAll([stream.subarray(0, cut), stream.subarray(cut)]), expected, `split at ${cut}`)
  }
  assert.deepEqual(decodeAll([...stream].map(b => Uint8Array.of(b))), expected)
})

test('declared lengths are checked before any payload is buffered', () => {
  const decoder = (max = 2): MessageDecoder => new MessageDecoder({ onMessage: () => {}, onBlockStart: () => {}, onBlockData: () => {}, onBlockEnd: () => {} }, { maxBitfieldBytes: max })
  const header = (length: number, id: number): Buffer => { const b = Buffer.alloc(5); b.writeUInt32BE(length, 0); b[4] = id; return b }
  assert.throws(() => decoder().push(header(4, 5)), { code: 'ERR_FRAME_TOO_LARGE' }, 'a bitfield longer than the torrent needs')
  assert.throws(() => decoder().push(header(0xffffffff, 20)), { code: 'ERR_FRAME_TOO_LARGE' }, 'a 4 GiB extended message')
  assert.throws(() => decoder().push(header(9 + 1024 * 1024, 7)), { code: 'ERR_FRAME_TOO_LARGE' }, 'a 1 MiB block')
  assert.throws(() => decoder().push(header(8, 7)), { code: 'ERR_FRAME_TOO_LARGE' }, 'a piece message too short for its header')
  assert.throws(() => decoder().push(header(6, 4)), { code: 'ERR_BAD_MESSAGE' }, 'have with 5 payload bytes')
  assert.throws(() => decoder().push(header(2, 1)), { code: 'ERR_BAD_MESSAGE' }, 'unchoke with a payload')
  assert.throws(() => decoder().push(header(1, 20)), { code: 'ERR_FRAME_TOO_LARGE' }, 'extended message without its id')
  assert.throws(() => decoder().push(header(2 * 1024 * 1024, 99)), { code: 'ERR_FRAME_TOO_LARGE' }, 'huge unknown message')
})

test('unknown message ids are skipped (BEP 3), and the stream goes on', () => {
  const unknown = Buffer.from([0, 0, 0, 4, 99, 1, 2, 3])
  assert.deepEqual(decodeAll([Buffer.concat([unknown, encode.have(1)])]), [{ type: 'have', index: 1 }])
})

test('extended handshake: round trip; hostile values are dropped or refused', () => {
  const h = { m: { ut_metadata: 1, ut_pex: 2 }, v: 'p2pshare 0.1.0', p: 6881, reqq: 500, metadataSize: 12345, yourip: Buffer.from([127, 0, 0, 1]) }
  assert.deepEqual(decodeExtendedHandshake(encodeExtendedHandshake(h)), h)
  assert.deepEqual(decodeExtendedHandshake(Buffer.from('d1:md1:xi300e1:yi-1e1:zi3eee')), { m: { z: 3 } })
  assert.throws(() => decodeExtendedHandshake(Buffer.from('le')), { code: 'ERR_BAD_EXTENDED' })
  assert.throws(() => decodeExtendedHandshake(Buffer.from('d1:m')), { code: 'ERR_BAD_EXTENDED' })
  assert.throws(() => decodeExtendedHandshake(Buffer.from('d13:metadata_sizei999999999ee')), { code: 'ERR_BAD_METADATA' })
})

test('ut_metadata messages (BEP 9): request, data with its trailing bytes, reject; malformed ones refused', () => {
  const data = randomBytes(1000)
  for (const m of [{ type: 'request', piece: 0 }, { type: 'reject', piece: 3 }, { type: 'data', piece: 1, totalSize: 17384, data }] as const) {
    assert.deepEqual(decodeMetadataMessage(encodeMetadataMessage(m)), m)
  }
  assert.throws(() => decodeMetadataMessage(Buffer.from('d8:msg_typei0e5:piecei0eeXX')), { code: 'ERR_BAD_METADATA' })
  assert.throws(() => decodeMetadataMessage(Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei0ee')), { code: 'ERR_BAD_METADATA' })
  assert.throws(() => decodeMetadataMessage(Buffer.from('d8:msg_typei7e5:piecei0ee')), { code: 'ERR_BAD_METADATA' })
  assert.throws(() => decodeMetadataMessage(Buffer.from('d8:msg_typei0ee')), { code: 'ERR_BAD_METADATA' })
  assert.throws(() => decodeMetadataMessage(Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei99999ee'), Buffer.alloc(16385)])), { code: 'ERR_BAD_METADATA' })
})

test('a decoder stopped by a message hands over nothing after it, not even the rest of the same read', () => {
  const events: Message[] = []
  const decoder: MessageDecoder = new MessageDecoder({
    onMessage: (m) => { events.push(m); if (m.type === 'have') decoder.stop() },
    onBlockStart: () => {},
    onBlockData: () => {},
    onBlockEnd: () => {}
  }, { maxBitfieldBytes: 16 })
  decoder.push(Buffer.concat([encode.interested(), encode.have(7), encode.bitfield(Buffer.from([0xff])), encode.unchoke()]))
  assert.deepEqual(events, [{ type: 'interested' }, { type: 'have', index: 7 }])
})

test('a connection closed by one of its messages applies none of the messages after it in the same read', async (t) => {
  const server = createServer((s) => { s.on('error', () => {}) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port })
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
  const seen: string[] = []
  const infoHash = randomBytes(20)
  const wire: PeerWire = new PeerWire({
    socket,
    direction: 'out',
    local: { infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } },
    maxBitfieldBytes: 16,
    now: Date.now
  }, {
    onHandshake: () => ({ accept: true }),
    onReady: () => {},
    // A have for a piece that does not exist: the owner closes the connection, as PeerSession does.
    onMessage: (m) => { seen.push(m.type); if (m.type === 'have') wire.close('have out of range') },
    onBlockStart: () => { seen.push('block') },
    onBlockData: () => {},
    onBlockEnd: () => {},
    onDrain: () => {},
    onReceived: () => {},
    onClose: () => { seen.push('closed') }
  })
  wire.receive(Buffer.concat([
    encodeHandshake({ infoHash, peerId: randomBytes(20), extensions: { extended: true, fast: true, dht: false } }),
    encode.have(99_999), encode.bitfield(Buffer.from([0xff])), encode.piece(0, 0, Buffer.alloc(16)), encode.unchoke()
  ]))
  assert.deepEqual(seen, ['have', 'closed'])
})
