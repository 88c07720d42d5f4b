import { describe, test, beforeEach, afterEach, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { bdecode, bencode, bget, type BDict } from '../../src/content/bencode.js'
import { decodeCompactPeers, decodeCompactPeers6 } from '../../src/discovery/compact.js'
import { createTracker, parseAnnounce, parseScrape, AnnounceFailure, Swarms, type Tracker, type TrackerOptions } from '../../src/tracker/index.js'
import { compactReply } from '../../src/tracker/announce-replies.js'
import { CompactPicks } from '../../src/tracker/swarms.js'
import { peerAddress } from '../../src/tracker/routes-announce.js'
import type { AnnounceParams } from '../../src/tracker/announce-params.js'
import type { SwarmPeer } from '../../src/tracker/swarms.js'

const sha1 = (text: string): Buffer => createHash('sha1').update(text).digest()
/** Every byte as %XX, as libtorrent sends binary values. */
const pct = (bytes: Uint8Array): string => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('')
const HASH = sha1('torrent A')
const HASH2 = sha1('torrent B')
const peerId = (n: number): Buffer => Buffer.from(`-TS0001-${String(n).padStart(12, '0')}`, 'latin1')

type Query = Record<string, string | number | undefined>

/** An announce URL with valid defaults; a key set to undefined is left out. */
function url (overrides: Query = {}, path = '/announce'): string {
  const query: Query = { info_hash: pct(HASH), peer_id: pct(peerId(1)), port: 6881, uploaded: 0, downloaded: 0, left: 1000, ...overrides }
  return `${path}?${Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('&')}`
}

let tracker: Tracker
let clock = 1_700_000_000_000

async function open (options: Partial<TrackerOptions> = {}): Promise<void> {
  await tracker?.close()
  // Re-announces at one clock reading are these tests' tool: the min interval rule has its own (tracker-eviction.test.ts).
  tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, swarmSweepIntervalMs: 0, enforcedMinIntervalS: 0, now: () => clock, ...options })
}

interface Reply {
  raw: Buffer
  dict: BDict
}

async function get (path: string, remoteAddress = '10.0.0.1'): Promise<Reply> {
  const res = await tracker.app.inject({ method: 'GET', url: path, remoteAddress })
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.headers['content-type'], 'text/plain')
  const value = bdecode(res.rawPayload).value
  assert.ok(typeof value === 'object' && !(value instanceof Uint8Array) && !Array.isArray(value), 'a dictionary')
  return { raw: res.rawPayload, dict: value }
}

/** Announces as the peer at remoteAddress:port (peer id n) and returns the decoded reply. */
async function announceAs (remoteAddress: string, port: number, extra: Query = {}): Promise<BDict> {
  return (await get(url({ peer_id: pct(peerId(port)), port, ...extra }), remoteAddress)).dict
}

/** The peers of a compact reply (peers and peers6), as "ip:port". */
function endpoints (dict: BDict): string[] {
  const v4 = decodeCompactPeers(bget.bytes(dict, 'peers') ?? new Uint8Array(0)) ?? assert.fail('peers not a multiple of 6')
  const v6 = decodeCompactPeers6(bget.bytes(dict, 'peers6') ?? new Uint8Array(0)) ?? assert.fail('peers6 not a multiple of 18')
  return [...v4, ...v6].map((p) => p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`).sort()
}

async function expectFailure (path: string, reason: string): Promise<void> {
  const { raw, dict } = await get(path)
  assert.deepEqual(Object.keys(dict), ['failure reason'], `reply to ${path}: ${raw.toString('latin1')}`)
  assert.equal(bget.string(dict, 'failure reason'), reason)
  assert.deepEqual(raw, bencode({ 'failure reason': reason }))
}

function failureOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof AnnounceFailure, `an AnnounceFailure, got ${String(err)}`)
    return err.message
  }
  return assert.fail('no failure')
}

beforeEach(async () => {
  clock = 1_700_000_000_000
  await open()
})

afterEach(async () => {
  await tracker.close()
})

describe('announce parameters', () => {
  test('a missing required parameter is named: info_hash, peer_id, port, left, in that order', async () => {
    await expectFailure(url({ info_hash: undefined }), 'Missing parameter: info_hash')
    await expectFailure(url({ peer_id: undefined }), 'Missing parameter: peer_id')
    await expectFailure(url({ port: undefined }), 'Missing parameter: port')
    await expectFailure(url({ left: undefined }), 'Missing parameter: left')
    await expectFailure('/announce', 'Missing parameter: info_hash')
    await expectFailure(url({ info_hash: undefined, port: 'x' }), 'Missing parameter: info_hash')
    await expectFailure(url({ left: undefined, port: 0 }), 'Missing parameter: left')
  })

  test('uploaded and downloaded are optional; event, numwant, compact too', async () => {
    const dict = (await get(url({ uploaded: undefined, downloaded: undefined }))).dict
    assert.equal(bget.int(dict, 'interval'), 1800)
    assert.equal(bget.int(dict, 'incomplete'), 1)
  })

  test('info_hash and peer_id must be exactly 20 bytes after percent-decoding', async () => {
    for (const name of ['info_hash', 'peer_id']) {
      await expectFailure(url({ [name]: pct(Buffer.alloc(19)) }), `Invalid parameter: ${name}: must be 20 bytes, percent-encoded (got 19)`)
      await expectFailure(url({ [name]: pct(Buffer.alloc(21)) }), `Invalid parameter: ${name}: must be 20 bytes, percent-encoded (got 21)`)
      await expectFailure(url({ [name]: '' }), `Invalid parameter: ${name}: must be 20 bytes, percent-encoded (got 0)`)
      // 40 hex digits are 40 bytes, not a hash: the value is raw bytes.
      await expectFailure(url({ [name]: HASH.toString('hex') }), `Invalid parameter: ${name}: must be 20 bytes, percent-encoded (got 40)`)
      await expectFailure(url({ [name]: `${pct(Buffer.alloc(19))}%G0` }), `Invalid parameter: ${name}: malformed percent-encoding`)
      await expectFailure(url({ [name]: `${pct(Buffer.alloc(19))}%4` }), `Invalid parameter: ${name}: malformed percent-encoding`)
      await expectFailure(url({ [name]: `${pct(Buffer.alloc(19))}%` }), `Invalid parameter: ${name}: malformed percent-encoding`)
    }
    // The name alone (no '=') is an empty value.
    await expectFailure(url({ info_hash: undefined }).replace('?', '?info_hash&'), 'Invalid parameter: info_hash: must be 20 bytes, percent-encoded (got 0)')
  })

  test('port must be 1..65535, digits only', async () => {
    for (const port of ['0', '65536', '-1', 'abc', '', '6881.5', '+6881', '0x10', '99999999999999999999']) {
      await expectFailure(url({ port }), 'Invalid parameter: port: must be an integer from 1 to 65535')
    }
    assert.equal(parseAnnounce(url({ port: 1 })).port, 1)
    assert.equal(parseAnnounce(url({ port: 65535 })).port, 65535)
  })

  test('left, uploaded and downloaded must be non-negative integers', async () => {
    for (const name of ['left', 'uploaded', 'downloaded']) {
      for (const value of ['-1', 'x', '1e3', '1.5', '', '%31', String(2 ** 53)]) {
        await expectFailure(url({ [name]: value }), `Invalid parameter: ${name}: must be a non-negative integer`)
      }
    }
    assert.equal(parseAnnounce(url({ left: 0 })).left, 0)
    assert.equal(parseAnnounce(url({ left: Number.MAX_SAFE_INTEGER })).left, Number.MAX_SAFE_INTEGER)
  })

  test('the first bad value is reported, in parameter order', async () => {
    await expectFailure(url({ info_hash: 'x', peer_id: 'y', port: 0, left: -1 }), 'Invalid parameter: info_hash: must be 20 bytes, percent-encoded (got 1)')
    await expectFailure(url({ peer_id: 'y', port: 0, left: -1 }), 'Invalid parameter: peer_id: must be 20 bytes, percent-encoded (got 1)')
    await expectFailure(url({ port: 0, uploaded: -1, left: -1 }), 'Invalid parameter: port: must be an integer from 1 to 65535')
    await expectFailure(url({ uploaded: -1, left: -1, event: 'bogus' }), 'Invalid parameter: uploaded: must be a non-negative integer')
    await expectFailure(url({ left: -1, event: 'bogus' }), 'Invalid parameter: left: must be a non-negative integer')
  })

  test('event: started, completed, stopped, empty or absent (and BEP 21 paused); anything else is refused', async () => {
    for (const event of ['start', 'STARTED', 'complete', 'stop', 'x']) {
      await expectFailure(url({ event }), 'Invalid parameter: event: must be started, completed, stopped or empty')
    }
    assert.equal(parseAnnounce(url({ event: '' })).event, '')
    assert.equal(parseAnnounce(url({ event: 'paused' })).event, '')
    assert.equal(parseAnnounce(url()).event, '')
    for (const event of ['started', 'completed', 'stopped'] as const) assert.equal(parseAnnounce(url({ event })).event, event)
  })

  test('raw bytes survive: %00, + as space, %2B, multi-byte sequences, lower-case hex, unescaped characters', () => {
    const bytes = Buffer.from([0x00, 0x20, 0x2b, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff, 0xfe, 0x25, 0x26, 0x3d, 0x41, 0x7e, 0x2e, 0x00, 0x80, 0x0a, 0x7f])
    // '+' for the space, %2B for '+', lower-case hex for some, 'A', '~' and '.' unescaped.
    const encoded = '%00+%2B%c3%A9%E2%82%ac%FF%fe%25%26%3DA~.%00%80%0A%7F'
    const params = parseAnnounce(url({ info_hash: encoded, peer_id: encoded }))
    assert.equal(params.infoHash, bytes.toString('hex'))
    assert.deepEqual(Buffer.from(params.peerId, 'latin1'), bytes)
    // fastify's own parser would have turned the invalid UTF-8 (0xff 0xfe) into U+FFFD.
    assert.notEqual(Buffer.from(new URLSearchParams(`x=${encoded}`).get('x') ?? '', 'utf8').toString('hex'), bytes.toString('hex'))
  })

  test('a repeated parameter: the first value counts; unknown parameters, key, trackerid and ip are ignored', () => {
    const params = parseAnnounce(`${url({ port: 7000 })}&port=8000&key=abc&trackerid=xyz&ip=1.2.3.4&foo=bar&&`)
    assert.equal(params.port, 7000)
  })

  test('numwant: default 50, clamped to 200 however large, 0 allowed, garbage or negative means the default', () => {
    const numwant = (value?: string): number => parseAnnounce(url({ numwant: value })).numwant
    assert.equal(numwant(), 50)
    assert.equal(numwant('0'), 0)
    assert.equal(numwant('7'), 7)
    assert.equal(numwant('200'), 200)
    assert.equal(numwant('201'), 200)
    assert.equal(numwant('1000000'), 200)
    assert.equal(numwant('9'.repeat(40)), 200)
    assert.equal(numwant('-1'), 50)
    assert.equal(numwant('lots'), 50)
    assert.equal(numwant(''), 50)
  })

  test('compact is the default; only compact=0 asks for dictionaries; no_peer_id=1', () => {
    assert.equal(parseAnnounce(url()).compact, true)
    assert.equal(parseAnnounce(url({ compact: 1 })).compact, true)
    assert.equal(parseAnnounce(url({ compact: 0 })).compact, false)
    assert.equal(parseAnnounce(url()).noPeerId, false)
    assert.equal(parseAnnounce(url({ no_peer_id: 1 })).noPeerId, true)
  })

  test('a URL without a query, or with only "?", lacks info_hash', () => {
    assert.equal(failureOf(() => parseAnnounce('/announce')), 'Missing parameter: info_hash')
    assert.equal(failureOf(() => parseAnnounce('/announce?')), 'Missing parameter: info_hash')
    assert.equal(failureOf(() => parseAnnounce(url({ info_hash: `${pct(HASH).slice(3)}${String.fromCharCode(0x100)}` }))), 'Invalid parameter: info_hash: malformed percent-encoding')
    // 0x80-0xFF characters (only inject() can send them: Node's parser refuses such bytes) count as bytes.
    assert.equal(parseAnnounce(url({ info_hash: `${pct(HASH).slice(3)}\u00e9` })).infoHash, `${HASH.toString('hex').slice(2)}e9`)
  })

  test('the peer address: IPv4-mapped IPv6 is its IPv4, a zone id is dropped', () => {
    assert.equal(peerAddress('::ffff:10.1.2.3'), '10.1.2.3')
    assert.equal(peerAddress('::FFFF:10.1.2.3'), '10.1.2.3')
    assert.equal(peerAddress('10.1.2.3'), '10.1.2.3')
    assert.equal(peerAddress('2001:db8::1'), '2001:db8::1')
    assert.equal(peerAddress('fe80::1%eth0'), 'fe80::1')
    assert.equal(peerAddress(undefined), undefined)
  })
})

describe('announce replies', () => {
  test('the compact reply: exact bytes, the same bencode() writes, keys sorted', async () => {
    await announceAs('10.0.0.2', 7000, { left: 0 })
    const { raw } = await get(url({ port: 6881 }), '10.0.0.1')
    const expected = bencode({
      complete: 1,
      downloaded: 0,
      incomplete: 1,
      interval: 1800,
      'min interval': 30,
      peers: Buffer.from([10, 0, 0, 2, 0x1b, 0x58])
    })
    assert.deepEqual(raw, expected)
    assert.equal(raw.toString('latin1'), 'd8:completei1e10:downloadedi0e10:incompletei1e8:intervali1800e12:min intervali30e5:peers6:\n\0\0\u0002\u001bXe')
  })

  test('compactReply writes IPv4 into peers (6 bytes) and IPv6 into peers6 (18 bytes), as bencode() would', () => {
    const swarms = new Swarms({ intervalS: 1800 })
    const params = (port: number, left = 5): AnnounceParams => ({ infoHash: HASH.toString('hex'), peerId: peerId(port).toString('latin1'), port, uploaded: 0, downloaded: 0, left, event: '', numwant: 50, compact: true, noPeerId: false })
    swarms.announce(params(1), '192.168.1.20', 0)
    swarms.announce(params(65535), '2001:db8::ff00:42:8329', 0)
    const { swarm } = swarms.announce(params(6881, 0), '255.255.255.255', 0)
    const picks = new CompactPicks()
    swarms.pickCompact(swarm ?? assert.fail('swarm'), undefined, 50, picks)
    const summary = { complete: 1, incomplete: 2, downloaded: 3, interval: 60, minInterval: 30 }
    // All peers wanted: seeders first, then leechers, each in list order.
    assert.deepEqual(compactReply(summary, picks), bencode({
      complete: 1,
      downloaded: 3,
      incomplete: 2,
      interval: 60,
      'min interval': 30,
      peers: Buffer.from([255, 255, 255, 255, 0x1a, 0xe1, 192, 168, 1, 20, 0, 1]),
      peers6: Buffer.from('20010db8000000000000ff0000428329ffff', 'hex')
    }))
    picks.length4 = picks.length6 = 0
    assert.deepEqual(compactReply(summary, picks), bencode({ complete: 1, downloaded: 3, incomplete: 2, interval: 60, 'min interval': 30, peers: Buffer.alloc(0) }))
  })

  test('a peer moving between seeders and leechers keeps its compact bytes; removal fills holes correctly', () => {
    const swarms = new Swarms({ intervalS: 1800, enforcedMinIntervalS: 0 })
    const params = (port: number, left: number, event: AnnounceParams['event'] = ''): AnnounceParams => ({ infoHash: HASH.toString('hex'), peerId: peerId(port).toString('latin1'), port, uploaded: 0, downloaded: 0, left, event, numwant: 50, compact: true, noPeerId: false })
    const ips = ['10.0.0.1', '2001:db8::1', '10.0.0.3', '2001:db8::4', '10.0.0.5']
    for (const [i, ip] of ips.entries()) swarms.announce(params(7000 + i, 1), ip, 0)
    // Moves, removals from the middle and the end, in both lists.
    swarms.announce(params(7001, 0), '2001:db8::1', 1)
    swarms.announce(params(7000, 0), '10.0.0.1', 1)
    swarms.announce(params(7002, 0, 'stopped'), '10.0.0.3', 2)
    swarms.announce(params(7001, 9), '2001:db8::1', 3)
    const { swarm } = swarms.announce(params(7004, 0, 'stopped'), '10.0.0.5', 4)
    const picks = new CompactPicks()
    swarms.pickCompact(swarm ?? assert.fail('swarm'), undefined, 50, picks)
    const got = [
      ...(decodeCompactPeers(picks.peers.subarray(0, picks.length4)) ?? []),
      ...(decodeCompactPeers6(picks.peers6.subarray(0, picks.length6)) ?? [])
    ].map((p) => `${p.ip} ${p.port}`).sort()
    assert.deepEqual(got, ['10.0.0.1 7000', '2001:db8::1 7001', '2001:db8::4 7003'])
    const objects: SwarmPeer[] = []
    swarms.pick(swarm as NonNullable<typeof swarm>, undefined, 50, objects)
    assert.deepEqual(objects.map((p) => `${p.ip} ${p.port} ${p.seeder}`).sort(), ['10.0.0.1 7000 true', '2001:db8::1 7001 false', '2001:db8::4 7003 false'])
    assert.deepEqual(swarms.stats(HASH.toString('hex'), 5), { complete: 1, incomplete: 2, downloaded: 0 })
  })

  test('random churn (joins, moves, stops) against a model: lists, compact bytes and counts stay consistent', () => {
    const swarms = new Swarms({ intervalS: 1800, enforcedMinIntervalS: 0 })
    const model = new Map<string, boolean>() // "ip port" -> seeder
    let seed = 12345
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const endpoint = (i: number): [string, number] => i % 3 === 0 ? [`2001:db8::${(i + 1).toString(16)}`, 6000 + i] : [`10.0.${i}.1`, 6000 + i]
    const picks = new CompactPicks()
    let checked = 0
    for (let step = 0; step < 3000; step++) {
      const [ip, port] = endpoint(random(60))
      const action = random(3)
      const event = action === 2 ? 'stopped' : ''
      const left = action === 0 ? 0 : 10
      swarms.announce({ infoHash: HASH.toString('hex'), peerId: peerId(port).toString('latin1'), port, uploaded: 0, downloaded: 0, left, event, numwant: 50, compact: true, noPeerId: false }, ip, step)
      if (event === 'stopped') model.delete(`${ip} ${port}`)
      else model.set(`${ip} ${port}`, left === 0)
      if (step % 50 !== 0) continue
      const swarm = swarms.get(HASH.toString('hex'), step)
      if (swarm === undefined) {
        assert.equal(model.size, 0, 'only a stop comes before the swarm exists')
        continue
      }
      checked++
      swarms.pickCompact(swarm, undefined, 200, picks)
      const got = [
        ...(decodeCompactPeers(picks.peers.subarray(0, picks.length4)) ?? []),
        ...(decodeCompactPeers6(picks.peers6.subarray(0, picks.length6)) ?? [])
      ].map((p) => `${p.ip} ${p.port}`).sort()
      assert.deepEqual(got, [...model.keys()].sort(), `step ${step}`)
      const objects: SwarmPeer[] = []
      swarms.pick(swarm, undefined, 200, objects)
      assert.deepEqual(objects.map((p) => `${p.ip} ${p.port} ${p.seeder}`).sort(), [...model].map(([k, v]) => `${k} ${v}`).sort())
      for (const list of [swarm.seeders, swarm.leechers]) list.peers.forEach((p, i) => assert.equal(p.slot, i))
      const seeders = [...model.values()].filter(Boolean).length
      assert.deepEqual(swarms.stats(HASH.toString('hex'), step), { complete: seeders, incomplete: model.size - seeders, downloaded: 0 })
    }
    assert.ok(checked >= 55, `checked ${checked} times`)
  })

  test('IPv6 peers come in peers6, IPv4-mapped ones as IPv4; the dictionary form lists both in peers', async () => {
    await announceAs('2001:db8::1', 7001)
    await announceAs('::ffff:10.0.0.9', 7002)
    const dict = await announceAs('10.0.0.1', 7003)
    assert.deepEqual(endpoints(dict), ['10.0.0.9:7002', '[2001:db8::1]:7001'])
    assert.equal(bget.bytes(dict, 'peers6')?.length, 18)
    assert.equal(bget.bytes(dict, 'peers')?.length, 6)

    const list = (await announceAs('10.0.0.1', 7003, { compact: 0 })).peers as BDict[]
    assert.ok(Array.isArray(list))
    const shown = list.map((p) => `${bget.string(p, 'ip')}:${bget.int(p, 'port')}:${bget.string(p, 'peer id')}`).sort()
    assert.deepEqual(shown, [`10.0.0.9:7002:${peerId(7002).toString('latin1')}`, `2001:db8::1:7001:${peerId(7001).toString('latin1')}`])
  })

  test('compact=0 gives {ip, peer id, port} dictionaries; no_peer_id=1 leaves the peer id out', async () => {
    await announceAs('10.0.0.2', 7000)
    const full = await get(url({ compact: 0 }), '10.0.0.1')
    assert.deepEqual(full.raw, bencode({
      complete: 0,
      downloaded: 0,
      incomplete: 2,
      interval: 1800,
      'min interval': 30,
      peers: [{ ip: '10.0.0.2', 'peer id': peerId(7000), port: 7000 }]
    }))
    const bare = await get(url({ compact: 0, no_peer_id: 1 }), '10.0.0.1')
    assert.deepEqual((bare.dict.peers as BDict[]).map((p) => Object.keys(p)), [['ip', 'port']])
  })

  test('no peers6 key without IPv6 peers', async () => {
    await announceAs('10.0.0.2', 7000)
    const dict = await announceAs('10.0.0.1', 7001)
    assert.equal(dict.peers6, undefined)
    assert.deepEqual(Object.keys(dict).sort(), ['complete', 'downloaded', 'incomplete', 'interval', 'min interval', 'peers'])
  })

  test('the ip parameter is ignored: the address is the connection\'s', async () => {
    await announceAs('10.0.0.2', 7000, { ip: '6.6.6.6' })
    assert.deepEqual(endpoints(await announceAs('10.0.0.1', 7001)), ['10.0.0.2:7000'])
  })

  test('the interval is configurable; min interval is half of it, at most 30 s', async () => {
    await open({ announceIntervalS: 40 })
    const dict = await announceAs('10.0.0.1', 7000)
    assert.equal(bget.int(dict, 'interval'), 40)
    assert.equal(bget.int(dict, 'min interval'), 20)
    await open({ announceIntervalS: 120 })
    assert.equal(bget.int(await announceAs('10.0.0.1', 7000), 'min interval'), 30)
    await assert.rejects(createTracker({ db: ':memory:', announceIntervalS: 0 }), { code: 'ERR_VALIDATION' })
    await assert.rejects(createTracker({ db: ':memory:', announceIntervalS: 1.5 }), { code: 'ERR_VALIDATION' })
    await assert.rejects(createTracker({ db: ':memory:', announceIntervalS: 86_401 }), { code: 'ERR_VALIDATION' })
  })
})

describe('swarm semantics', () => {
  test('the announcing peer never gets itself back; peers are keyed by (ip, port)', async () => {
    assert.deepEqual(endpoints(await announceAs('10.0.0.1', 7000)), [])
    assert.deepEqual(endpoints(await announceAs('10.0.0.1', 7000)), [], 'not itself on a re-announce either')
    assert.deepEqual(endpoints(await announceAs('10.0.0.1', 7001)), ['10.0.0.1:7000'], 'same ip, another port: another peer')
    assert.deepEqual(endpoints(await announceAs('10.0.0.2', 7000)), ['10.0.0.1:7000', '10.0.0.1:7001'], 'same port, another ip: another peer')
    // A new peer id at the same endpoint is the same peer.
    const dict = await get(url({ peer_id: pct(peerId(99)), port: 7000 }), '10.0.0.1')
    assert.deepEqual(endpoints(dict.dict), ['10.0.0.1:7001', '10.0.0.2:7000'])
    assert.equal(bget.int(dict.dict, 'incomplete'), 3)
  })

  test('numwant bounds the reply: 300 peers, numwant=1000 gives 200 distinct peers, numwant=10 gives 10, numwant=0 none', async () => {
    for (let i = 0; i < 300; i++) await announceAs(`10.0.${i >> 8}.${i & 0xff}`, 7000, { numwant: 0 })
    const self = '10.0.0.7:7000'
    for (const [numwant, expected] of [[1000, 200], [200, 200], [10, 10], [0, 0], [undefined, 50]] as const) {
      const peers = endpoints(await announceAs('10.0.0.7', 7000, { numwant }))
      assert.equal(peers.length, expected, `numwant=${numwant}`)
      assert.equal(new Set(peers).size, expected, 'distinct')
      assert.ok(!peers.includes(self), 'never itself')
    }
  })

  test('a random choice: over many replies, every other peer of a 20-peer swarm is handed out', async () => {
    for (let i = 0; i < 20; i++) await announceAs(`10.0.0.${i + 1}`, 7000)
    const seen = new Set<string>()
    for (let round = 0; round < 200; round++) {
      const peers = endpoints(await announceAs('10.0.0.1', 7000, { numwant: 5 }))
      assert.equal(peers.length, 5)
      for (const p of peers) seen.add(p)
    }
    assert.equal(seen.size, 19, `seen ${[...seen].join(' ')}`)
    assert.ok(!seen.has('10.0.0.1:7000'))
  })

  test('the choice is uniform: over 10,000 picks of 5 among 19, every peer is handed out 2632 ± 10% times', () => {
    const swarms = new Swarms({ intervalS: 1800 })
    const params = (port: number): AnnounceParams => ({ infoHash: HASH.toString('hex'), peerId: peerId(port).toString('latin1'), port, uploaded: 0, downloaded: 0, left: 1, event: '', numwant: 50, compact: true, noPeerId: false })
    let outcome
    for (let i = 0; i < 20; i++) outcome = swarms.announce(params(7000 + i), '10.0.0.1', 0)
    const { swarm } = outcome ?? assert.fail('announced')
    const self = swarms.announce(params(7007), '10.0.0.1', 0).self
    const counts = new Map<number, number>()
    const out: SwarmPeer[] = []
    for (let round = 0; round < 10_000; round++) {
      swarms.pick(swarm ?? assert.fail('swarm'), self, 5, out)
      assert.equal(new Set(out).size, 5)
      for (const peer of out) counts.set(peer.port, (counts.get(peer.port) ?? 0) + 1)
    }
    assert.equal(counts.size, 19)
    assert.equal(counts.get(7007), undefined)
    const expected = 10_000 * 5 / 19
    for (const [port, count] of counts) assert.ok(Math.abs(count - expected) < expected * 0.1, `peer ${port}: ${count} times, expected ~${Math.round(expected)}`)
  })

  test('left=0 makes a seeder; a seeder is given leechers, then seeders when leechers do not fill numwant; a leecher gets both', async () => {
    await announceAs('10.0.0.1', 7000, { left: 0 })
    await announceAs('10.0.0.2', 7000, { left: 0 })
    await announceAs('10.0.0.3', 7000, { left: 10 })
    const seeder = await announceAs('10.0.0.1', 7000, { left: 0, numwant: 1 })
    assert.deepEqual(endpoints(seeder), ['10.0.0.3:7000'], 'one wanted: the leecher')
    assert.equal(bget.int(seeder, 'complete'), 2)
    assert.equal(bget.int(seeder, 'incomplete'), 1)
    assert.deepEqual(endpoints(await announceAs('10.0.0.1', 7000, { left: 0 })), ['10.0.0.2:7000', '10.0.0.3:7000'], 'more wanted: the other seeder too')
    const leecher = await announceAs('10.0.0.4', 7000, { left: 10 })
    assert.deepEqual(endpoints(leecher), ['10.0.0.1:7000', '10.0.0.2:7000', '10.0.0.3:7000'])
    // A seeder that announces left > 0 again is a leecher again.
    const back = await announceAs('10.0.0.1', 7000, { left: 5 })
    assert.equal(bget.int(back, 'complete'), 1)
    assert.equal(bget.int(back, 'incomplete'), 3)
  })

  test('a peer that does not know the size yet (aria2 on a magnet link: started, left=0, nothing downloaded) is given the seed', async () => {
    // The only other peer is the seed: given leechers only, such a peer would never meet it (issue 9).
    await announceAs('10.0.0.1', 6881, { left: 0, event: 'started' })
    const magnet = await announceAs('10.0.0.9', 6882, { left: 0, downloaded: 0, event: 'started' })
    assert.deepEqual(endpoints(magnet), ['10.0.0.1:6881'])
    // ...and on its regular re-announces too, while it is still fetching the metadata.
    assert.deepEqual(endpoints(await announceAs('10.0.0.9', 6882, { left: 0 })), ['10.0.0.1:6881'])
  })

  test('a seeder in a swarm with enough leechers is given leechers only, every one of them over many replies; never itself', () => {
    const swarms = new Swarms({ intervalS: 1800 })
    const params = (port: number, left: number): AnnounceParams => ({ infoHash: HASH.toString('hex'), peerId: peerId(port).toString('latin1'), port, uploaded: 0, downloaded: 0, left, event: '', numwant: 50, compact: true, noPeerId: false })
    for (let i = 0; i < 8; i++) swarms.announce(params(8000 + i, 0), '10.0.0.1', 0)
    for (let i = 0; i < 12; i++) swarms.announce(params(9000 + i, 5), '10.0.0.1', 0)
    const { swarm, self } = swarms.announce(params(8003, 0), '10.0.0.1', 0)
    const out: SwarmPeer[] = []
    const seen = new Set<number>()
    for (let round = 0; round < 500; round++) {
      swarms.pick(swarm ?? assert.fail('swarm'), self, 5, out)
      assert.equal(out.length, 5)
      assert.ok(out.every((p) => !p.seeder), 'five leechers of twelve: no seeder')
      for (const p of out) seen.add(p.port)
    }
    assert.equal(seen.size, 12)
    // Wanting 15: the 12 leechers first, then 3 of the 7 other seeders (random), never itself.
    const seeders = new Set<number>()
    for (let round = 0; round < 500; round++) {
      swarms.pick(swarm ?? assert.fail('swarm'), self, 15, out)
      assert.equal(new Set(out).size, 15)
      assert.deepEqual(out.slice(0, 12).map((p) => p.seeder), Array(12).fill(false))
      for (const p of out.slice(12)) {
        assert.ok(p.seeder && p !== self)
        seeders.add(p.port)
      }
    }
    assert.equal(seeders.size, 7)
    // Wanting everything: all 19 others.
    swarms.pick(swarm ?? assert.fail('swarm'), self, 50, out)
    assert.equal(out.length, 19)
    assert.ok(!out.includes(self ?? assert.fail('self')))
  })

  test('stopped removes the peer and gets no peers; a stopped unknown peer or swarm is harmless', async () => {
    await announceAs('10.0.0.1', 7000)
    await announceAs('10.0.0.2', 7000)
    const stopped = await announceAs('10.0.0.1', 7000, { event: 'stopped' })
    assert.deepEqual(endpoints(stopped), [])
    assert.equal(bget.int(stopped, 'incomplete'), 1)
    assert.deepEqual(endpoints(await announceAs('10.0.0.3', 7000)), ['10.0.0.2:7000'])
    const again = await announceAs('10.0.0.1', 7000, { event: 'stopped' })
    assert.equal(bget.int(again, 'incomplete'), 2)
    const unknown = await get(url({ info_hash: pct(HASH2), event: 'stopped' }))
    assert.equal(bget.int(unknown.dict, 'incomplete'), 0)
    assert.equal(bget.int(unknown.dict, 'complete'), 0)
    // ...and creates no swarm.
    const scraped = await get(`/scrape?info_hash=${pct(HASH2)}`)
    assert.deepEqual(Object.keys(bget.dict(scraped.dict, 'files') ?? {}), [])
  })

  test('completed counts once per peer in downloaded; with left=0 the peer is a seeder', async () => {
    await announceAs('10.0.0.1', 7000, { event: 'started' })
    let dict = await announceAs('10.0.0.1', 7000, { event: 'completed', left: 0 })
    assert.equal(bget.int(dict, 'downloaded'), 1)
    assert.equal(bget.int(dict, 'complete'), 1)
    assert.equal(bget.int(dict, 'incomplete'), 0)
    dict = await announceAs('10.0.0.1', 7000, { event: 'completed', left: 0 })
    assert.equal(bget.int(dict, 'downloaded'), 1, 'a repeated completed is not counted again')
    dict = await announceAs('10.0.0.2', 7000, { event: 'completed', left: 0 })
    assert.equal(bget.int(dict, 'downloaded'), 2)
    dict = await announceAs('10.0.0.2', 7000, { event: 'stopped' })
    assert.equal(bget.int(dict, 'downloaded'), 2, 'downloaded outlives the peer')
    assert.equal(bget.int(dict, 'complete'), 1)
  })

  test('peers expire after 2 × interval + 120 s without an announce: lazily on read and by the sweep', async () => {
    await open({ announceIntervalS: 60 }) // timeout: 2 × 60 + 120 = 240 s
    await announceAs('10.0.0.1', 7000)
    clock += 100_000
    await announceAs('10.0.0.2', 7000)
    clock += 140_000 // A last seen 240 s ago: still in
    assert.deepEqual(endpoints(await announceAs('10.0.0.3', 7000)), ['10.0.0.1:7000', '10.0.0.2:7000'])
    clock += 1 // 240.001 s: gone, without any sweep having run
    const dict = await announceAs('10.0.0.3', 7000)
    assert.deepEqual(endpoints(dict), ['10.0.0.2:7000'])
    assert.equal(bget.int(dict, 'incomplete'), 2, 'counts exclude it too')
    const scraped = bget.dict(bget.dict((await get(`/scrape?info_hash=${pct(HASH)}`)).dict, 'files') ?? {}, HASH.toString('latin1'))
    assert.equal(scraped?.incomplete, 2)

    // The periodic sweep drops expired peers of swarms nobody reads, and swarms left empty and idle.
    await announceAs('10.0.0.1', 7000, { info_hash: pct(HASH2) })
    clock += 240_001
    assert.equal(tracker.sweepSwarms(), 3, 'A of HASH2, B and C of HASH')
    const files = bget.dict((await get(`/scrape?info_hash=${pct(HASH)}&info_hash=${pct(HASH2)}`)).dict, 'files') ?? {}
    assert.deepEqual(Object.keys(files), [])

    // A swarm emptied by `stopped` keeps its downloaded count for a peer timeout, then goes.
    await announceAs('10.0.0.1', 7000, { event: 'completed', left: 0 })
    await announceAs('10.0.0.1', 7000, { event: 'stopped' })
    clock += 240_000
    assert.equal(tracker.sweepSwarms(), 0)
    const kept = bget.dict((await get(`/scrape?info_hash=${pct(HASH)}`)).dict, 'files') ?? {}
    assert.equal(bget.dict(kept, HASH.toString('latin1'))?.downloaded, 1)
    clock += 1
    tracker.sweepSwarms()
    assert.deepEqual(Object.keys(bget.dict((await get(`/scrape?info_hash=${pct(HASH)}`)).dict, 'files') ?? {}), [])
  })

  test('the periodic sweep runs on its timer (mock timers)', async () => {
    mock.timers.enable({ apis: ['setInterval'] })
    try {
      await open({ announceIntervalS: 60, swarmSweepIntervalMs: 1000 })
      await announceAs('10.0.0.1', 7000)
      await announceAs('10.0.0.2', 7000, { info_hash: pct(HASH2) })
      clock += 240_001
      mock.timers.tick(999)
      assert.equal(tracker.sweepSwarms(), 2, 'before its period the timer has swept nothing')
      await announceAs('10.0.0.1', 7000)
      await announceAs('10.0.0.2', 7000, { info_hash: pct(HASH2) })
      clock += 240_001
      mock.timers.tick(1001) // the timer fires at 1000 and 2000 ms
      assert.equal(tracker.sweepSwarms(), 0, 'the timer swept both expired peers')
    } finally {
      mock.timers.reset()
    }
  })

  test('the Swarms sweep with an injected clock, directly', () => {
    const swarms = new Swarms({ intervalS: 10 })
    assert.equal(swarms.peerTimeoutMs, 140_000)
    const params = (port: number): AnnounceParams => ({ infoHash: HASH.toString('hex'), peerId: peerId(port).toString('latin1'), port, uploaded: 0, downloaded: 0, left: 1, event: '', numwant: 50, compact: true, noPeerId: false })
    swarms.announce(params(1), '10.0.0.1', 0)
    swarms.announce(params(2), '10.0.0.1', 100_000)
    assert.equal(swarms.peerCount, 2)
    assert.equal(swarms.sweep(140_000), 0)
    assert.equal(swarms.sweep(140_001), 1)
    assert.equal(swarms.peerCount, 1)
    const out: SwarmPeer[] = []
    const swarm = swarms.get(HASH.toString('hex'), 240_000) ?? assert.fail('swarm')
    swarms.pick(swarm, undefined, 50, out)
    assert.deepEqual(out.map((p) => p.port), [2])
    // A re-announce moves a peer to the young end: peer 1 joins again, peer 3 joins, peer 1 re-announces;
    // then peer 3, not peer 1, is the oldest and expires first.
    swarms.announce(params(1), '10.0.0.1', 200_000)
    swarms.announce(params(3), '10.0.0.1', 210_000)
    swarms.announce(params(1), '10.0.0.1', 230_000)
    assert.equal(swarms.get(HASH.toString('hex'), 350_001)?.size, 1)
    swarms.pick(swarm, undefined, 50, out)
    assert.deepEqual(out.map((p) => p.port), [1])
    // Peer 1 stops: the empty swarm is kept (with its downloaded count) a peer timeout after that, then dropped.
    swarms.announce({ ...params(1), event: 'stopped' }, '10.0.0.1', 240_000)
    assert.equal(swarms.peerCount, 0)
    assert.equal(swarms.sweep(380_000), 0)
    assert.equal(swarms.swarmCount, 1, 'kept a peer timeout after its last announce')
    assert.equal(swarms.sweep(380_001), 0)
    assert.equal(swarms.swarmCount, 0, 'the idle empty swarm is dropped')
  })
})

describe('swarm limits', () => {
  // Every bound makes room by evicting the least recently active: tracker-eviction.test.ts has the details.
  test('a full swarm makes room: a new peer replaces the least recently announced one', async () => {
    await open({ swarmLimits: { maxPeersPerSwarm: 2 } })
    await announceAs('10.0.0.1', 7000)
    await announceAs('10.0.0.2', 7000)
    assert.deepEqual(endpoints(await announceAs('10.0.0.3', 7000)), ['10.0.0.2:7000'])
    assert.deepEqual(endpoints(await announceAs('10.0.0.2', 7000)), ['10.0.0.3:7000'])
  })

  test('past maxSwarms the least recently active swarm goes; past maxPeers its oldest peer goes', async () => {
    await open({ swarmLimits: { maxSwarms: 1, maxPeers: 2 } })
    await announceAs('10.0.0.1', 7000)
    assert.equal(bget.int(await announceAs('10.0.0.1', 7000, { info_hash: pct(HASH2) }), 'incomplete'), 1)
    assert.equal(tracker.sweepSwarms(), 0)
    const scraped = bget.dict((await get(`/scrape?info_hash=${pct(HASH)}&info_hash=${pct(HASH2)}`)).dict, 'files') ?? assert.fail('files')
    assert.deepEqual(Object.keys(scraped), [HASH2.toString('latin1')], 'the first swarm was evicted')
    await announceAs('10.0.0.2', 7000, { info_hash: pct(HASH2) })
    assert.deepEqual(endpoints(await announceAs('10.0.0.3', 7000, { info_hash: pct(HASH2) })), ['10.0.0.2:7000'])
  })
})

describe('scrape', () => {
  test('counts per info hash, keyed by the raw 20 bytes in byte order; unknown hashes omitted', async () => {
    await announceAs('10.0.0.1', 7000, { left: 0, event: 'completed' })
    await announceAs('10.0.0.2', 7000)
    await announceAs('10.0.0.3', 7000)
    await announceAs('10.0.0.1', 7000, { info_hash: pct(HASH2) })
    const unknown = sha1('nobody')
    const { raw, dict } = await get(`/scrape?info_hash=${pct(HASH2)}&info_hash=${pct(unknown)}&info_hash=${pct(HASH)}`)
    const [first, second] = [HASH, HASH2].sort(Buffer.compare) as [Buffer, Buffer]
    const stats = (h: Buffer): Buffer => h.equals(HASH)
      ? Buffer.from('d8:completei1e10:downloadedi1e10:incompletei2ee', 'latin1')
      : Buffer.from('d8:completei0e10:downloadedi0e10:incompletei1ee', 'latin1')
    assert.deepEqual(raw, Buffer.concat([Buffer.from('d5:filesd20:', 'latin1'), first, stats(first), Buffer.from('20:', 'latin1'), second, stats(second), Buffer.from('ee', 'latin1')]))
    const files = bget.dict(dict, 'files') ?? assert.fail('files')
    assert.deepEqual(files[HASH.toString('latin1')], Object.assign(Object.create(null) as object, { complete: 1, downloaded: 1, incomplete: 2 }))
  })

  test('a repeated hash is listed once; raw bytes with %00 and + survive as keys', async () => {
    const odd = Buffer.from('00202b00000000000000000000000000000000ff', 'hex')
    await get(url({ info_hash: pct(odd) }))
    const { dict } = await get(`/scrape?info_hash=%00+%2B${'%00'.repeat(16)}%FF&info_hash=${pct(odd)}`)
    const files = bget.dict(dict, 'files') ?? assert.fail('files')
    assert.deepEqual(Object.keys(files), [odd.toString('latin1')])
  })

  test('refusals: no info_hash (no full scrape), too many, malformed', async () => {
    await expectFailure('/scrape', 'Missing parameter: info_hash (this tracker does not serve a full scrape)')
    await expectFailure('/scrape?foo=1', 'Missing parameter: info_hash (this tracker does not serve a full scrape)')
    const many = Array.from({ length: 65 }, (_, i) => `info_hash=${pct(sha1(String(i)))}`).join('&')
    await expectFailure(`/scrape?${many}`, 'Too many info_hash parameters (at most 64 per scrape)')
    const sixtyFour = Array.from({ length: 64 }, (_, i) => `info_hash=${pct(sha1(String(i)))}`).join('&')
    assert.deepEqual(Object.keys(bget.dict((await get(`/scrape?${sixtyFour}`)).dict, 'files') ?? {}), [])
    await expectFailure(`/scrape?info_hash=${pct(HASH)}&info_hash=abc`, 'Invalid parameter: info_hash: must be 20 bytes, percent-encoded (got 3)')
    await expectFailure(`/scrape?info_hash=%zz${pct(HASH).slice(3)}`, 'Invalid parameter: info_hash: malformed percent-encoding')
    assert.deepEqual(parseScrape(`/scrape?info_hash=${pct(HASH)}&info_hash=${pct(HASH)}`), [HASH.toString('hex')])
  })
})

describe('HTTP framing', () => {
  test('other methods are 405 JSON as everywhere else, HEAD too: only a GET announces a peer', async () => {
    const post = await tracker.app.inject({ method: 'POST', url: url() })
    assert.equal(post.statusCode, 405)
    assert.deepEqual(post.json(), { error: 'Method not allowed' })
    const head = await tracker.app.inject({ method: 'HEAD', url: url() })
    assert.equal(head.statusCode, 405)
    const scrape = await get(`/scrape?info_hash=${pct(HASH)}`)
    assert.deepEqual(Object.keys(bget.dict(scrape.dict, 'files') ?? {}), [], 'no peer was announced')
  })
})
