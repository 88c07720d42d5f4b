import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeMessage, decodeNodes, encodeMessage, encodeNodes, KRPC_METHOD_UNKNOWN, KRPC_PROTOCOL_ERROR,
  type Contact, type DecodeResult, type KrpcMessage
} from '../../src/dht/krpc.js'
import { DHT_MAX_NODES_PER_REPLY, DHT_MAX_PACKET_BYTES, DHT_MAX_VALUES_READ } from '../../src/dht/constants.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')
const ID_A = b('abcdefghij0123456789')
const ID_M = b('mnopqrstuvwxyz123456')

/**
 * Packets captured on loopback from libtorrent 2.0.8 (python3-libtorrent, Debian), in hex: its queries to a node
 * of ours and its replies to our queries. Note the keys BEP 5 does not name (`bs`, `seed`, `p` in the reply, `ip`),
 * error replies that carry an `r` too, and its 4-byte tokens.
 */
const LIBTORRENT = {
  query_get_peers: '64313a6164323a6273693165323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c0393a696e666f5f6861736832303adfe00ab093bcc65f110bc9221da1602e71d1200b65313a71393a6765745f7065657273313a74323a3fa3313a76343a4c540208313a79313a7165',
  query_announce_peer: '64313a6164323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c031323a696d706c6965645f706f7274693165393a696e666f5f6861736832303a8227393ae2e436554930f60781b083c2c0a3665b343a706f727469333238333565343a73656564693065353a746f6b656e343a746f6b6e65313a7131333a616e6e6f756e63655f70656572313a74323aeeb8313a76343a4c540208313a79313a7165',
  reply_ping: '64323a6970363a7f3d0001978f313a7264323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c0313a706933383739396565313a74323a6161313a76343a4c540208313a79313a7265',
  reply_find_node: '64323a6970363a7f3d0001978f313a7264323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c0353a6e6f646573303a313a706933383739396565313a74323a6162313a76343a4c540208313a79313a7265',
  reply_get_peers: '64323a6970363a7f3d0001978f313a7264323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c0353a6e6f646573303a313a7069333837393965353a746f6b656e343ab916be3a65313a74323a6163313a76343a4c540208313a79313a7265',
  reply_bad_token: '64313a656c693230336531333a696e76616c696420746f6b656e65323a6970363a7f3d0001978f313a7264323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c0313a706933383739396565313a74323a6164313a76343a4c540208313a79313a6565',
  reply_unknown: '64313a656c693230336531353a756e6b6e6f776e206d65737361676565323a6970363a7f3d0001978f313a7264323a696432303adfe00ab093bcc65f110bc922f13f1efc972698c0313a706933383739396565313a74323a6165313a76343a4c540208313a79313a6565',
}

function ok (r: DecodeResult): KrpcMessage {
  if (!r.ok) assert.fail(`decode failed: ${r.reason}`)
  return r.message
}

function fails (packet: Buffer | string, errorCode?: number): DecodeResult & { ok: false } {
  const r = decodeMessage(typeof packet === 'string' ? b(packet) : packet)
  assert.equal(r.ok, false, `should not decode: ${String(packet).slice(0, 60)}`)
  if (r.ok) throw new Error('unreachable')
  assert.equal(r.errorCode, errorCode, `error code for ${String(packet).slice(0, 60)}: ${r.reason}`)
  return r
}

test('BEP 5 example packets decode to their messages', () => {
  const ping = ok(decodeMessage(b('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe')))
  assert.deepEqual(ping, { y: 'q', t: b('aa'), id: ID_A, q: 'ping' })
  const pong = ok(decodeMessage(b('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re')))
  assert.deepEqual(pong, { y: 'r', t: b('aa'), id: ID_M })
  const find = ok(decodeMessage(b('d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe')))
  assert.deepEqual(find, { y: 'q', t: b('aa'), id: ID_A, q: 'find_node', target: ID_M })
  const gp = ok(decodeMessage(b('d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe')))
  assert.deepEqual(gp, { y: 'q', t: b('aa'), id: ID_A, q: 'get_peers', infoHash: ID_M })
  const values = ok(decodeMessage(b('d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re')))
  assert.equal(values.y, 'r')
  if (values.y !== 'r') return
  assert.deepEqual(values.token, b('aoeusnth'))
  assert.deepEqual(values.values, [{ ip: '97.120.106.101', port: 0x2e75 }, { ip: '105.100.104.116', port: 0x6e6d }])
  const ann = ok(decodeMessage(b('d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe')))
  assert.deepEqual(ann, { y: 'q', t: b('aa'), id: ID_A, q: 'announce_peer', infoHash: ID_M, port: 6881, impliedPort: true, token: b('aoeusnth') })
  const err = ok(decodeMessage(b('d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee')))
  assert.deepEqual(err, { y: 'e', t: b('aa'), code: 201, message: 'A Generic Error Ocurred' })
})

test('without our version key, encoding gives the BEP 5 example bytes exactly', () => {
  const none = { version: null }
  assert.equal(encodeMessage({ y: 'q', t: b('aa'), id: ID_A, q: 'ping' }, none).toString('latin1'), 'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe')
  assert.equal(encodeMessage({ y: 'r', t: b('aa'), id: ID_M }, none).toString('latin1'), 'd1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re')
  assert.equal(encodeMessage({ y: 'q', t: b('aa'), id: ID_A, q: 'get_peers', infoHash: ID_M }, none).toString('latin1'),
    'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe')
  assert.equal(encodeMessage({ y: 'q', t: b('aa'), id: ID_A, q: 'announce_peer', infoHash: b('mnopqrstuvwxyz123456'), port: 6881, impliedPort: true, token: b('aoeusnth') }, none).toString('latin1'),
    'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe')
  assert.equal(encodeMessage({ y: 'e', t: b('aa'), code: 201, message: 'A Generic Error Ocurred' }, none).toString('latin1'), 'd1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee')
})

const contacts: Contact[] = [
  { id: Buffer.alloc(20, 1), host: '127.0.0.1', port: 6881 },
  { id: Buffer.alloc(20, 2), host: '10.1.2.3', port: 65535 }
]
const contacts6: Contact[] = [{ id: Buffer.alloc(20, 3), host: '2001:db8::1', port: 6881 }]

test('every message type survives encode then decode', () => {
  const messages: KrpcMessage[] = [
    { y: 'q', t: b('t1'), id: ID_A, q: 'ping' },
    { y: 'q', t: b('t2'), id: ID_A, q: 'find_node', target: ID_M, want: ['n4', 'n6'] },
    { y: 'q', t: b('t3'), id: ID_A, q: 'get_peers', infoHash: ID_M },
    { y: 'q', t: b('t4'), id: ID_A, q: 'announce_peer', infoHash: ID_M, port: 51413, impliedPort: false, token: b('tok') },
    { y: 'q', t: b('t5'), id: ID_A, q: 'ping', ro: true },
    { y: 'r', t: b('r1'), id: ID_M },
    { y: 'r', t: b('r2'), id: ID_M, nodes: contacts, ip: { ip: '127.0.0.1', port: 4000 } },
    { y: 'r', t: b('r3'), id: ID_M, nodes6: contacts6, token: b('xyz'), values: [{ ip: '2001:db8::7', port: 1 }] },
    { y: 'r', t: b('r4'), id: ID_M, token: b('xyz'), values: [{ ip: '1.2.3.4', port: 80 }, { ip: '5.6.7.8', port: 443 }], nodes: [] },
    { y: 'e', t: b('e1'), code: 203, message: 'Protocol Error' }
  ]
  for (const m of messages) {
    const back = ok(decodeMessage(encodeMessage(m)))
    assert.deepEqual({ ...back, v: undefined }, { ...m, v: undefined }, `${m.y} ${'q' in m ? m.q : ''}`)
    assert.deepEqual(back.v, b('PS\x00\x01'))
  }
})

test('libtorrent 2.0 queries and replies decode, unknown keys ignored', () => {
  const lt = Object.fromEntries(Object.entries(LIBTORRENT).map(([k, v]) => [k, Buffer.from(v, 'hex')]))
  const gp = ok(decodeMessage(lt.query_get_peers as Buffer))
  assert.equal(gp.y === 'q' && gp.q, 'get_peers')
  assert.deepEqual(gp.v, b('LT\x02\x08'))
  const ann = ok(decodeMessage(lt.query_announce_peer as Buffer))
  assert.ok(ann.y === 'q' && ann.q === 'announce_peer')
  assert.equal(ann.impliedPort, true)
  assert.equal(ann.port, 32835)
  assert.deepEqual(ann.token, b('tokn'))
  for (const name of ['reply_ping', 'reply_find_node', 'reply_get_peers']) {
    const r = ok(decodeMessage(lt[name] as Buffer))
    assert.equal(r.y, 'r', name)
    if (r.y !== 'r') continue
    assert.deepEqual(r.ip, { ip: '127.61.0.1', port: 38799 }, `${name}: BEP 42 ip`)
  }
  const gpr = ok(decodeMessage(lt.reply_get_peers as Buffer))
  assert.ok(gpr.y === 'r' && gpr.token?.length === 4 && gpr.nodes?.length === 0)
  const badToken = ok(decodeMessage(lt.reply_bad_token as Buffer))
  assert.deepEqual([badToken.y, badToken.y === 'e' && badToken.code, badToken.y === 'e' && badToken.message], ['e', 203, 'invalid token'])
  const unknown = ok(decodeMessage(lt.reply_unknown as Buffer))
  assert.ok(unknown.y === 'e' && unknown.code === 203)
})

test('every truncation and every tail of a packet is refused without throwing', () => {
  const packets = [
    ...Object.values(LIBTORRENT).map((h) => Buffer.from(h, 'hex')),
    encodeMessage({ y: 'r', t: b('r2'), id: ID_M, nodes: contacts, token: b('tok'), values: [{ ip: '1.2.3.4', port: 80 }] })
  ]
  for (const p of packets) {
    for (let i = 0; i < p.length; i++) {
      const head = decodeMessage(p.subarray(0, i))
      assert.equal(head.ok, false, `prefix of ${i} bytes`)
      const tail = decodeMessage(p.subarray(i + 1))
      assert.equal(tail.ok, false, `tail from ${i + 1}`)
    }
  }
})

test('garbage of every kind is refused, never thrown', () => {
  const samples = ['', 'x', 'i42e', 'le', '4:spam', 'd', 'de', 'd1:t2:aae', 'd1:t0:1:y1:qe', 'd1:ti5e1:y1:qe',
    'd1:t2:aa1:y1:ze', 'd1:t2:aa1:yi1ee', 'd1:t2:aa1:y1:re', 'd1:rle1:t2:aa1:y1:re', 'd1:rd2:id3:abce1:t2:aa1:y1:re',
    'd1:t2:aa1:y1:ee', 'd1:e4:oops1:t2:aa1:y1:ee', 'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe trailing',
    'd1:t2:aa1:t2:bb1:y1:qe', 'd8:__proto__d1:ai1ee1:t2:aa1:y1:qe']
  for (const s of samples) assert.equal(decodeMessage(b(s)).ok, false, s)
  // Deep nesting stays bounded by the decoder's depth limit.
  assert.equal(decodeMessage(b('l'.repeat(5000) + 'e'.repeat(5000))).ok, false)
  for (let i = 0; i < 2000; i++) decodeMessage(Buffer.from(Array.from({ length: 1 + (i % 90) }, () => Math.floor(Math.random() * 256))))
})

test('a query with bad arguments asks for error 203, an unknown method for 204', () => {
  const id = 'abcdefghij0123456789'
  fails(`d1:ad2:id20:${id}e1:q6:foobar1:t2:aa1:y1:qe`, KRPC_METHOD_UNKNOWN)
  fails('d1:q4:ping1:t2:aa1:y1:qe', KRPC_PROTOCOL_ERROR) // no arguments
  fails('d1:ai5e1:q4:ping1:t2:aa1:y1:qe', KRPC_PROTOCOL_ERROR) // arguments not a dictionary
  fails('d1:ad2:id5:shorte1:q4:ping1:t2:aa1:y1:qe', KRPC_PROTOCOL_ERROR)
  fails('d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe', KRPC_PROTOCOL_ERROR)
  fails(`d1:ad2:id20:${id}6:targeti5ee1:q9:find_node1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR) // the crash of bittorrent-dht 11
  fails(`d1:ad2:id20:${id}9:info_hashi5ee1:q9:get_peers1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR) // likewise
  fails(`d1:ad2:id20:${id}9:info_hashlee1:q9:get_peers1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR)
  fails(`d1:ad2:id20:${id}9:info_hash20:${id}4:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR)
  fails(`d1:ad2:id20:${id}9:info_hash20:${id}4:port4:nope5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR)
  fails(`d1:ad2:id20:${id}9:info_hash20:${id}4:porti1e5:tokeni1ee1:q13:announce_peer1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR)
  fails(`d1:ad2:id20:${id}9:info_hash20:${id}4:porti1e5:token65:${'x'.repeat(65)}e1:q13:announce_peer1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR)
  fails(`d1:ad2:id20:${id}e1:qi5e1:t2:aa1:y1:qe`, KRPC_PROTOCOL_ERROR)
  // No usable transaction id: nothing to answer, so no error reply.
  fails(`d1:ad2:id20:${id}e1:q6:foobar1:t17:${'t'.repeat(17)}1:y1:qe`)
  fails(`d1:ad2:id20:${id}e1:q6:foobar1:y1:qe`)
  // implied_port makes the port optional.
  const implied = ok(decodeMessage(b(`d1:ad2:id20:${id}12:implied_porti1e9:info_hash20:${id}5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe`)))
  assert.ok(implied.y === 'q' && implied.q === 'announce_peer' && implied.impliedPort && implied.port === 0)
})

test('replies with wrong types or oversize values are refused; long lists are cut to their bound', () => {
  const r = (body: string): string => `d1:rd2:id20:mnopqrstuvwxyz123456${body}e1:t2:aa1:y1:re`
  assert.equal(fails(r('5:nodes25:' + 'x'.repeat(25))).t?.toString(), 'aa') // not a multiple of 26: refused, transaction named
  fails(r('5:nodesi5e'))
  fails(r('6:nodes637:' + 'x'.repeat(37)))
  fails(r('6:values4:abcd'))
  fails(r('5:tokeni5e'))
  fails(r(`5:token65:${'x'.repeat(65)}`))
  assert.equal(fails(Buffer.alloc(DHT_MAX_PACKET_BYTES + 1, 0x20)).reason, `packet of ${DHT_MAX_PACKET_BYTES + 1} bytes`)
  const many: Contact[] = Array.from({ length: 100 }, (_, i) => ({ id: Buffer.alloc(20, i), host: `10.0.${i}.1`, port: 1000 + i }))
  const cut = ok(decodeMessage(encodeMessage({ y: 'r', t: b('aa'), id: ID_M, nodes: many })))
  assert.equal(cut.y === 'r' && cut.nodes?.length, DHT_MAX_NODES_PER_REPLY)
  const values = Array.from({ length: 600 }, (_, i) => ({ ip: `10.1.${i >> 8}.${i & 0xff}`, port: 1 + i }))
  const v = ok(decodeMessage(encodeMessage({ y: 'r', t: b('aa'), id: ID_M, values })))
  assert.equal(v.y === 'r' && v.values?.length, DHT_MAX_VALUES_READ)
  // Values of odd sizes and non-strings are skipped (BEP 32: 6 and 18 bytes are the sizes); the rest kept.
  const mixed = ok(decodeMessage(b(r('6:valuesl6:abcdef5:abcdei7e18:' + 'y'.repeat(18) + 'e'))))
  assert.equal(mixed.y === 'r' && mixed.values?.length, 2)
  // Nodes with port 0 are skipped.
  const zero = encodeNodes([{ id: ID_A, host: '1.2.3.4', port: 0 }, { id: ID_M, host: '1.2.3.5', port: 9 }], 4)
  assert.deepEqual(decodeNodes(zero, 4)?.map((c) => c.port), [9])
})

test('unknown keys anywhere are ignored', () => {
  const q = ok(decodeMessage(b('d1:ad2:id20:abcdefghij01234567895:extrali1ei2ee6:target20:mnopqrstuvwxyz1234564:wantl2:n42:xxee1:q9:find_node2:zzd1:ai1ee1:t2:aa1:y1:qe')))
  assert.ok(q.y === 'q' && q.q === 'find_node')
  assert.deepEqual(q.want, ['n4'])
})

test('compact node lists keep to their family', () => {
  const mixed = [...contacts, ...contacts6]
  assert.equal(encodeNodes(mixed, 4).length, 2 * 26)
  assert.equal(encodeNodes(mixed, 6).length, 38)
  assert.deepEqual(decodeNodes(encodeNodes(mixed, 6), 6), contacts6)
  assert.equal(decodeNodes(Buffer.alloc(27), 4), undefined)
})
