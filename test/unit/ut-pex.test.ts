/**
 * BEP 11 peer exchange: the ut_pex codec, what we send (once a minute at most, deltas, bounded, never a peer about
 * itself) and what we take from what peers send (bounded, filtered, throttled), on fake connections and a fake clock.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bencode } from '../../src/content/index.js'
import { ProtocolError } from '../../src/errors.js'
import {
  decodePexMessage, encodePexMessage, ExtensionRegistry, MAX_PEX_ACCEPTED, MAX_PEX_MESSAGE_BYTES, PEX_INTERVAL_MS, Transfer, UT_PEX, UtPex,
  type ExtensionPeer, type PexContact
} from '../../src/swarm/index.js'
import { PieceStore } from '../../src/storage/index.js'

class FakePeer implements ExtensionPeer {
  readonly sent: Buffer[] = []
  extensions: Record<string, number> = { ut_pex: 7 }
  room = true
  constructor (readonly id: string) {}
  sendExtended (name: string, payload: Uint8Array): boolean {
    if ((this.extensions[name] ?? 0) === 0) return false
    this.sent.push(Buffer.from(payload))
    return true
  }

  hasRoom (): boolean { return this.room }
  close (): void {}
}

function contact (host: string, port: number, flags = 0x10, connection = `${host}:${port}`): PexContact {
  return { key: `${host}:${port}`, host, port, flags, connection }
}

function harness (): { pex: UtPex, clock: { now: number }, contacts: PexContact[], received: Array<Array<{ host: string, port: number }>>, logs: string[] } {
  const clock = { now: 1_000_000 }
  const contacts: PexContact[] = []
  const received: Array<Array<{ host: string, port: number }>> = []
  const logs: string[] = []
  const pex = new UtPex({ contacts: () => contacts, onPeers: (peers) => { received.push(peers) }, now: () => clock.now, onLog: (m) => { logs.push(m) } })
  return { pex, clock, contacts, received, logs }
}

test('the codec: added with flags (IPv4 and IPv6) and dropped, both ways', () => {
  const payload = encodePexMessage({
    added: [contact('10.0.0.1', 6881, 0x12), contact('2001:db8::1', 51413, 0x10)],
    dropped: [contact('10.0.0.2', 6882), contact('2001:db8::2', 1)]
  })
  const m = decodePexMessage(payload)
  assert.deepEqual(m.added, [{ ip: '10.0.0.1', port: 6881, flags: 0x12 }, { ip: '2001:db8::1', port: 51413, flags: 0x10 }])
  assert.deepEqual(m.dropped, [{ ip: '10.0.0.2', port: 6882 }, { ip: '2001:db8::2', port: 1 }])
  // What libtorrent sends without flags or IPv6 decodes too; unknown keys are ignored.
  assert.deepEqual(decodePexMessage(bencode({ added: Buffer.from([127, 0, 0, 1, 0x1a, 0xe1]), extra: 5 })).added, [{ ip: '127.0.0.1', port: 6881, flags: 0 }])
})

test('the codec: a payload that is no dictionary, bad bencode, or compact strings of the wrong length is a ProtocolError', () => {
  for (const bad of [bencode([1, 2]), Buffer.from('d5:added'), bencode({ added: Buffer.alloc(7) }), bencode({ dropped6: Buffer.alloc(17) })]) {
    assert.throws(() => decodePexMessage(bad), (err: unknown) => err instanceof ProtocolError)
  }
})

test('the first message goes a few seconds after the handshake, with every connected peer but the recipient', () => {
  const { pex, clock, contacts } = harness()
  const a = new FakePeer('127.0.0.1:7001')
  contacts.push(contact('127.0.0.1', 7001), contact('127.0.0.1', 7002, 0x12), contact('10.1.1.1', 7003, 0, 'in:9'))
  pex.onHandshake(a, { m: { ut_pex: 7 } })
  pex.tick()
  assert.equal(a.sent.length, 0, 'not at once')
  clock.now += 5_000
  pex.tick()
  assert.equal(a.sent.length, 1)
  const m = decodePexMessage(a.sent[0] as Buffer)
  assert.deepEqual(m.added.map(p => `${p.ip}:${p.port}/${p.flags}`), ['127.0.0.1:7002/18', '10.1.1.1:7003/0'], 'never told of itself')
})

test('then at most one message a minute, carrying only what changed: added and dropped, each bounded to 50', () => {
  const { pex, clock, contacts } = harness()
  const a = new FakePeer('127.0.0.1:9000')
  for (let i = 0; i < 10; i++) contacts.push(contact('127.0.0.1', 7000 + i))
  pex.onHandshake(a, { m: { ut_pex: 7 } })
  clock.now += 5_000
  pex.tick()
  assert.equal(decodePexMessage(a.sent[0] as Buffer).added.length, 10)
  // Changes: 3 gone, 80 new.
  contacts.splice(0, 3)
  for (let i = 0; i < 80; i++) contacts.push(contact('127.0.0.2', 8000 + i))
  clock.now += PEX_INTERVAL_MS - 1
  pex.tick()
  assert.equal(a.sent.length, 1, 'not within the minute')
  clock.now += 1
  pex.tick()
  const second = decodePexMessage(a.sent[1] as Buffer)
  assert.equal(second.added.length, 50)
  assert.deepEqual(second.dropped.map(p => p.port), [7000, 7001, 7002])
  clock.now += PEX_INTERVAL_MS
  pex.tick()
  const third = decodePexMessage(a.sent[2] as Buffer)
  assert.equal(third.added.length, 30, 'the rest of the new ones')
  assert.equal(third.dropped.length, 0, 'a drop is told once')
  clock.now += PEX_INTERVAL_MS
  pex.tick()
  assert.equal(a.sent.length, 3, 'nothing changed: nothing sent')
})

test('a peer that does not speak ut_pex, or whose output is full, is sent nothing', () => {
  const { pex, clock, contacts } = harness()
  contacts.push(contact('127.0.0.1', 7001))
  const deaf = new FakePeer('127.0.0.1:9001')
  deaf.extensions = {}
  const full = new FakePeer('127.0.0.1:9002')
  full.room = false
  pex.onHandshake(deaf, { m: {} })
  pex.onHandshake(full, { m: { ut_pex: 3 } })
  clock.now += 10_000
  pex.tick()
  assert.equal(deaf.sent.length + full.sent.length, 0)
  full.room = true
  pex.tick()
  assert.equal(full.sent.length, 1, 'sent once it has room')
})

test('what a peer sends: unusable contacts dropped, one per IP (loopback excepted), at most 50, a flood throttled, oversize ignored', () => {
  const { pex, clock, received, logs } = harness()
  const a = new FakePeer('10.0.0.9:5000')
  pex.onHandshake(a, { m: { ut_pex: 7 } })
  const ip = (a: number, b: number, c: number, d: number, port: number): Buffer => Buffer.from([a, b, c, d, port >> 8, port & 0xff])
  const added = Buffer.concat([
    ip(0, 0, 0, 0, 1000), ip(224, 0, 0, 1, 1000), ip(10, 0, 0, 1, 0), ip(10, 0, 0, 1, 1001), ip(10, 0, 0, 1, 1002),
    ip(127, 0, 0, 1, 2001), ip(127, 0, 0, 1, 2002),
    ...Array.from({ length: 100 }, (_, i) => ip(10, 1, i >> 8, i & 0xff, 3000))
  ])
  pex.onMessage(a, bencode({ added }))
  assert.equal(received.length, 1)
  const got = received[0] ?? []
  assert.equal(got.length, MAX_PEX_ACCEPTED)
  assert.deepEqual(got.slice(0, 3), [{ host: '10.0.0.1', port: 1001 }, { host: '127.0.0.1', port: 2001 }, { host: '127.0.0.1', port: 2002 }])
  // Again within the minute: ignored (logged once).
  clock.now += 10_000
  pex.onMessage(a, bencode({ added: ip(10, 2, 0, 1, 4000) }))
  pex.onMessage(a, bencode({ added: ip(10, 2, 0, 2, 4000) }))
  assert.equal(received.length, 1)
  assert.equal(logs.filter(l => l.includes('ignored')).length, 1)
  clock.now += PEX_INTERVAL_MS
  pex.onMessage(a, Buffer.alloc(MAX_PEX_MESSAGE_BYTES + 1))
  assert.equal(received.length, 1, 'oversize: ignored, not decoded')
  clock.now += PEX_INTERVAL_MS
  pex.onMessage(a, bencode({ added: ip(10, 2, 0, 3, 4000) }))
  assert.deepEqual(received[1], [{ host: '10.2.0.3', port: 4000 }])
})

test('a public torrent\'s connections offer ut_pex; a private torrent\'s (BEP 27) do not', () => {
  const store = PieceStore.open([], 16384, 'read')
  const make = (isPrivate: boolean): Transfer => new Transfer({
    infoHash: Buffer.alloc(20, 1), pieceHashes: Buffer.alloc(20), pieceLength: 16384, totalLength: 16384, store, peerId: Buffer.alloc(20, 2), listenPort: 1, private: isPrivate
  })
  const open = make(false)
  const closed = make(true)
  assert.ok((open.extensions.m[UT_PEX] ?? 0) > 0)
  assert.equal(closed.extensions.m[UT_PEX], undefined)
  assert.ok(open.extensions instanceof ExtensionRegistry)
  open.close()
  closed.close()
  store.close()
})
