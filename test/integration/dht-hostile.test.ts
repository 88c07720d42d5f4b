/**
 * One DHT node of ours against hostile and careless senders, over real UDP on 127.0.0.0/8: a query flood from one
 * address is throttled while another address is served; malformed packets cost a drop (or the KRPC error BEP 5
 * asks for) and never the node; replies from the wrong endpoint are ignored; tokens guard announce_peer; the table
 * is exported and reused; close() ends everything; an IPv6 (BEP 32) pair on ::1 works the same way.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Dht, type DhtOptions } from '../../src/dht/index.js'
import { decodeMessage, encodeMessage, type KrpcMessage } from '../../src/dht/krpc.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

async function node (t: TestContext, options: DhtOptions): Promise<Dht> {
  const dht = await Dht.start({ queryTimeoutMs: 500, ...options })
  t.after(async () => { await dht.close() })
  return dht
}

interface Raw {
  socket: Socket
  received: Array<{ message: KrpcMessage | undefined, from: RemoteInfo }>
  send: (data: Buffer | string, to: { host: string, port: number }) => void
}

/** A bare UDP socket that records what it receives, decoded. */
async function raw (t: TestContext, host: string, type: 'udp4' | 'udp6' = 'udp4'): Promise<Raw> {
  const socket = createSocket(type)
  const received: Raw['received'] = []
  socket.on('message', (buf, from) => {
    const r = decodeMessage(buf)
    received.push({ message: r.ok ? r.message : undefined, from })
  })
  socket.bind(0, host)
  await once(socket, 'listening')
  t.after(() => { socket.close() })
  return {
    socket,
    received,
    send: (data, to) => { socket.send(typeof data === 'string' ? b(data) : data, to.port, to.host) }
  }
}

async function until (what: string, check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

const ID = 'abcdefghij0123456789'
const ping = (t: string): string => `d1:ad2:id20:${ID}e1:q4:ping1:t${t.length}:${t}1:y1:qe`

test('a flood of queries from one address is throttled while another address is served', async (t) => {
  const burst = 40
  const perSecond = 20
  const victim = await node(t, { host: '127.70.0.1', rateLimit: { burst, perSecond } })
  const attacker = await raw(t, '127.70.1.1')
  const honest = await node(t, { host: '127.70.2.1' })
  const to = victim.address()
  const started = Date.now()
  let sent = 0
  const flood = (async () => {
    // 2,000 pings over about one second, paced so the kernel's socket buffer never overflows (a drop there would
    // prove nothing about our limiter).
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 100; i++) attacker.send(ping(`f${sent++}`), to)
      await sleep(50)
    }
  })()
  let served = 0
  for (let i = 0; i < 10; i++) {
    await honest.ping(to.host, to.port)
    served++
    await sleep(80)
  }
  await flood
  await sleep(100)
  const elapsed = (Date.now() - started) / 1000
  const answered = attacker.received.length
  const stats = victim.stats()
  t.diagnostic(`flood: ${sent} pings in ${elapsed.toFixed(2)} s, ${answered} answered, ${stats.rateLimited} dropped by the limit; honest address: ${served}/10 answered`)
  assert.equal(served, 10, 'the other address is served throughout')
  assert.ok(answered >= burst, `the burst is served (${answered})`)
  assert.ok(answered <= burst + perSecond * elapsed + 5, `at most burst + rate × time answered (${answered})`)
  assert.ok(stats.rateLimited >= (sent - answered) / 2, `${stats.rateLimited} rate-limited`)
})

test('malformed and hostile packets cost a drop or a KRPC error, never the node', async (t) => {
  const dht = await node(t, { host: '127.71.0.1' })
  const evil = await raw(t, '127.71.1.1')
  const to = dht.address()
  const garbage: Array<string | Buffer> = [
    '', 'x', 'de', 'le', 'i1e', 'd1:t2:qq1:y1:qe', 'd1:t2:aa1:y1:re', 'd1:t2:aa1:y1:ee', 'd1:rd2:id20:' + ID + 'e1:t2:zz1:y1:re',
    ping('aa').slice(0, 30), // truncated
    'l'.repeat(10_000), // nesting far past the decoder's bound, and past the packet size bound
    `d1:ad2:id20:${ID}6:targeti5ee1:q9:find_node1:t2:aa1:y1:qe`, // crashed bittorrent-dht 11
    `d1:ad2:id20:${ID}9:info_hashi5ee1:q9:get_peers1:t2:ac1:y1:qe`, // likewise
    `d1:ad2:id20:${ID}9:info_hashl${'i1e'.repeat(2000)}ee1:q9:get_peers1:t2:ab1:y1:qe`, // a huge list where a string belongs
    Buffer.alloc(9_000, 0x64), // oversize
    Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919) & 0xff))
  ]
  for (const g of garbage) evil.send(g, to)
  // Queries BEP 5 wants answered with an error: unknown method (204), bad arguments (203).
  evil.send(`d1:ad2:id20:${ID}e1:q6:foobar1:t2:u11:y1:qe`, to)
  evil.send(`d1:ad2:id3:abce1:q4:ping1:t2:u21:y1:qe`, to)
  evil.send(ping('ok'), to)
  await until('the replies', () => evil.received.length >= 7).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: got ${evil.received.map((r) => r.message?.t.toString('latin1')).join(' ')}`)
  })
  await sleep(100)
  const byT = new Map(evil.received.map((r) => [r.message?.t.toString('latin1'), r.message]))
  const unknown = byT.get('u1')
  assert.ok(unknown?.y === 'e' && unknown.code === 204, 'unknown method: error 204')
  const badId = byT.get('u2')
  assert.ok(badId?.y === 'e' && badId.code === 203, 'bad id: error 203')
  assert.equal(byT.get('ok')?.y, 'r', 'the node still answers')
  for (const t of ['aa', 'ab', 'ac']) assert.ok(byT.get(t)?.y === 'e', `wrong types in a query (${t}): error 203`)
  assert.ok(byT.get('qq')?.y === 'e', 'a query without a method: error 203')
  assert.equal(evil.received.length, 7, 'nothing else was answered')
  const pong = byT.get('ok')
  assert.ok(pong?.y === 'r' && pong.ip?.ip === '127.71.1.1', 'BEP 42: the reply says where it saw us')
  assert.ok(dht.stats().dropped >= 8)
})

test('replies must come from the endpoint queried: a guessed transaction id is ignored', async (t) => {
  const dht = await node(t, { host: '127.72.0.1' })
  const target = await raw(t, '127.72.1.1')
  const spoofer = await raw(t, '127.72.2.1')
  const queried = target.socket.address()
  const answered = dht.ping(queried.address, queried.port)
  await until('the ping', () => target.received.length === 1)
  const query = target.received[0]?.message
  assert.ok(query?.y === 'q')
  const reply = encodeMessage({ y: 'r', t: query.t, id: Buffer.alloc(20, 0xee) })
  spoofer.send(reply, dht.address()) // right transaction id, wrong sender
  await sleep(50)
  target.send(encodeMessage({ y: 'r', t: query.t, id: Buffer.alloc(20, 0x11) }), dht.address())
  const contact = await answered
  assert.deepEqual(contact.id, Buffer.alloc(20, 0x11))
  assert.ok(dht.stats().dropped >= 1)
})

test('announce_peer needs the token get_peers gave to that address; implied_port takes the source port', async (t) => {
  const dht = await node(t, { host: '127.73.0.1' })
  const a = await raw(t, '127.73.1.1')
  const other = await raw(t, '127.73.2.1')
  const to = dht.address()
  const hash = b('mnopqrstuvwxyz123456')
  a.send(encodeMessage({ y: 'q', t: b('g1'), id: b(ID), q: 'get_peers', infoHash: hash }), to)
  await until('the token', () => a.received.length === 1)
  const gp = a.received[0]?.message
  assert.ok(gp?.y === 'r' && gp.token !== undefined && gp.values === undefined)
  const token = gp.token
  other.send(encodeMessage({ y: 'q', t: b('x1'), id: b(ID), q: 'announce_peer', infoHash: hash, port: 1111, impliedPort: false, token }), to)
  await until('the refusal', () => other.received.length === 1)
  const refused = other.received[0]?.message
  assert.ok(refused?.y === 'e' && refused.code === 203, 'a token is bound to its address')
  a.send(encodeMessage({ y: 'q', t: b('a1'), id: b(ID), q: 'announce_peer', infoHash: hash, port: 0, impliedPort: true, token }), to)
  a.send(encodeMessage({ y: 'q', t: b('a2'), id: b(ID), q: 'announce_peer', infoHash: hash, port: 2222, impliedPort: false, token }), to)
  await until('the acks', () => a.received.length === 3)
  a.send(encodeMessage({ y: 'q', t: b('g2'), id: b(ID), q: 'get_peers', infoHash: hash }), to)
  await until('the values', () => a.received.length === 4)
  const values = a.received[3]?.message
  assert.ok(values?.y === 'r')
  const ports = (values.values ?? []).map((p) => `${p.ip}:${p.port}`).sort()
  assert.deepEqual(ports, [`127.73.1.1:2222`, `127.73.1.1:${a.socket.address().port}`].sort())
  assert.equal(dht.stats().storedPeers, 2)
})

test('the routing table is exported, and a restart from it rejoins without bootstrap nodes', async (t) => {
  const hub = await node(t, { host: '127.74.0.1' })
  const bootstrap = [`127.74.0.1:${hub.address().port}`]
  const others = await Promise.all(Array.from({ length: 20 }, async (_, i) => await node(t, { host: `127.74.${i + 1}.1`, bootstrap })))
  await Promise.all(others.map(async (o) => { await o.ready() }))
  const first = await Dht.start({ host: '127.75.0.1', bootstrap })
  await first.ready()
  const saved = JSON.parse(JSON.stringify(first.exportTable())) as ReturnType<Dht['exportTable']>
  await first.close()
  await first.close() // idempotent
  assert.equal(saved.version, 1)
  assert.equal(saved.id, first.id.toString('hex'))
  assert.ok(saved.nodes.length >= 8, `${saved.nodes.length} nodes saved`)
  const again = await node(t, { host: '127.75.0.1', table: saved })
  await again.ready()
  assert.deepEqual(again.id, first.id, 'the saved id is reused')
  assert.ok(again.stats().nodes >= saved.nodes.length, `${again.stats().nodes} nodes after the restart, ${saved.nodes.length} saved`)
  // A damaged file is input like any other: its bad entries are skipped.
  const damaged = { ...saved, nodes: [{ id: 'zz', host: 'x', port: -1 }, null, ...saved.nodes.slice(0, 3)] } as unknown as typeof saved
  const third = await node(t, { host: '127.75.0.2', table: damaged })
  await third.ready()
  assert.ok(third.stats().nodes >= 3)
})

test('close() fails queries in flight, ends lookups, and is idempotent', async (t) => {
  const dht = await Dht.start({ host: '127.76.0.1' })
  const silent = await raw(t, '127.76.1.1') // never answers
  const where = silent.socket.address()
  const pinging = dht.ping(where.address, where.port)
  const looking = dht.lookup(Buffer.alloc(20, 1), { signal: AbortSignal.timeout(5_000) })
  await until('the query', () => silent.received.length >= 1)
  await dht.close()
  await assert.rejects(pinging, { code: 'ERR_DHT_CLOSED' })
  await looking.then(() => {}, (err: { code?: string }) => { assert.equal(err.code, 'ERR_DHT_CLOSED') })
  await assert.rejects(dht.lookup(Buffer.alloc(20, 2)), { code: 'ERR_DHT_CLOSED' })
  await dht.close()
  assert.equal(dht.closed, true)
})

test('an abort signal ends a lookup with ERR_ABORTED', async (t) => {
  const silent = await raw(t, '127.77.1.1')
  const where = silent.socket.address()
  const seeded = await node(t, { host: '127.77.2.1', bootstrap: [`${where.address}:${where.port}`], bootstrapTimeoutMs: 50 })
  await seeded.ready()
  const controller = new AbortController()
  const looking = seeded.lookup(Buffer.alloc(20, 3), { signal: controller.signal })
  await sleep(20)
  controller.abort()
  await assert.rejects(looking, { code: 'ERR_ABORTED' })
  assert.equal(seeded.stats().lookups, 0)
})

test('IPv6 (BEP 32): nodes on ::1 exchange nodes6 and 18-byte values', async (t) => {
  // All on one address: the per-address limit would see them as one sender.
  const open = { restrictIps: false, rateLimit: { burst: 10_000, perSecond: 10_000 } }
  let a: Dht
  try {
    a = await node(t, { host: '::1', ...open })
  } catch {
    t.skip('no ::1 on this machine')
    return
  }
  const bootstrap = [`[::1]:${a.address().port}`]
  const others = await Promise.all(Array.from({ length: 12 }, async () => await node(t, { host: '::1', bootstrap, ...open })))
  await Promise.all(others.map(async (o) => { await o.ready() }))
  const hash = Buffer.alloc(20, 0x42)
  const ann = await (others[0] as Dht).announce(hash, 7777)
  assert.ok(ann.announced >= 1)
  const found = await (others[11] as Dht).lookup(hash)
  assert.deepEqual(found.peers, [{ ip: '::1', port: 7777 }])
  assert.equal(a.address().family, 6)
})

test('start() refuses bad options and reports a port in use', async (t) => {
  await assert.rejects(Dht.start({ host: 'localhost' }), { code: 'ERR_VALIDATION' })
  await assert.rejects(Dht.start({ host: '127.78.0.1', port: 70_000 }), { code: 'ERR_VALIDATION' })
  await assert.rejects(Dht.start({ host: '127.78.0.1', nodeId: Buffer.alloc(5) }), { code: 'ERR_VALIDATION' })
  const a = await node(t, { host: '127.78.0.1' })
  await assert.rejects(Dht.start({ host: '127.78.0.1', port: a.address().port }), { code: 'ERR_PORT_IN_USE' })
  const unreachable = await node(t, { host: '127.78.0.2', bootstrap: ['no-such-host.invalid:6881', 'nonsense'], resolve: async () => { throw new Error('not resolved') } })
  await unreachable.ready()
  assert.equal(unreachable.stats().nodes, 0)
})
