import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bencode } from '../../src/content/bencode.js'
import {
  announce, announceUrl, scrape, scrapeUrl, percentEncodeBytes, TrackerFailureError, ANNOUNCE_MAX_REPLY_BYTES,
  decodeCompactPeers, decodeCompactPeers6, encodeCompactPeers, parseIPv4, parseIPv6, formatIPv6, type AnnounceRequest
} from '../../src/discovery/index.js'
import { parseAnnounce } from '../../src/tracker/index.js'

const INFO = createHash('sha1').update('x').digest('hex')
const PEER_ID = Buffer.from('-P20001-\x00\xff+ %&=?#abc', 'latin1')

type Handler = (req: IncomingMessage, res: ServerResponse) => void
let handler: Handler = (_req, res) => res.end()
let server: Server
let base = ''
const seen: string[] = []

before(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '')
    handler(req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  server.closeAllConnections()
  server.close()
  await once(server, 'close')
})

function replyWith (body: Buffer | string, status = 200): void {
  handler = (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain' })
    res.end(body)
  }
}

function request (overrides: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return { url: base, infoHash: INFO, peerId: PEER_ID, port: 6881, uploaded: 1, downloaded: 2, left: 3, ...overrides }
}

describe('compact peer codec (BEP 23, BEP 7)', () => {
  test('IPv4 literals: strict dotted quads', () => {
    assert.equal(parseIPv4('0.0.0.0'), 0)
    assert.equal(parseIPv4('255.255.255.255'), 0xffffffff)
    assert.equal(parseIPv4('10.1.2.3'), 0x0a010203)
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.', 'a.b.c.d', '', '::1', '1.2.3.4 ']) {
      assert.equal(parseIPv4(bad), -1, bad)
    }
  })

  test('IPv6 literals: compression, embedded IPv4, RFC 5952 text back', () => {
    const bytes = (text: string): string => {
      const out = Buffer.alloc(16)
      assert.ok(parseIPv6(text, out), text)
      return out.toString('hex')
    }
    assert.equal(bytes('::'), '0'.repeat(32))
    assert.equal(bytes('::1'), `${'0'.repeat(31)}1`)
    assert.equal(bytes('2001:db8::1'), '20010db8000000000000000000000001')
    assert.equal(bytes('2001:DB8:0:0:1:0:0:1'), '20010db8000000000001000000000001')
    assert.equal(bytes('fe80::'), `fe80${'0'.repeat(28)}`)
    assert.equal(bytes('::ffff:1.2.3.4'), '00000000000000000000ffff01020304')
    for (const bad of [':', ':1', '1:', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', '1.2.3.4', '::1.2.3', 'fe80::1%eth0']) {
      assert.equal(parseIPv6(bad, Buffer.alloc(16)), false, bad)
    }
    const text = (hex: string): string => formatIPv6(Buffer.from(hex, 'hex'))
    assert.equal(text('20010db8000000000001000000000001'), '2001:db8::1:0:0:1', 'the first of equal runs')
    assert.equal(text('20010db8000000010000000000000001'), '2001:db8:0:1::1', 'the longest run')
    assert.equal(text('20010db8000100010001000100010001'), '2001:db8:1:1:1:1:1:1')
    assert.equal(text('20010db8000000010001000100010001'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed')
    assert.equal(text('0'.repeat(32)), '::')
    assert.equal(text('00000000000000000000ffff0a000001'), '10.0.0.1', 'IPv4-mapped')
  })

  test('encode and decode: 6 bytes per IPv4 peer, 18 per IPv6 peer, network byte order; bad lengths refused', () => {
    const peers = [{ ip: '10.0.0.1', port: 6881 }, { ip: '2001:db8::1', port: 443 }, { ip: '192.168.255.254', port: 65535 }]
    const { peers: v4, peers6: v6 } = encodeCompactPeers(peers)
    assert.equal(v4.toString('hex'), '0a0000011ae1' + 'c0a8fffeffff')
    assert.equal(v6.toString('hex'), '20010db8000000000000000000000001' + '01bb')
    assert.deepEqual(decodeCompactPeers(v4), [peers[0], peers[2]])
    assert.deepEqual(decodeCompactPeers6(v6), [peers[1]])
    assert.equal(decodeCompactPeers(Buffer.alloc(7)), undefined)
    assert.equal(decodeCompactPeers6(Buffer.alloc(17)), undefined)
    assert.deepEqual(decodeCompactPeers(Buffer.alloc(0)), [])
    assert.throws(() => encodeCompactPeers([{ ip: 'example.com', port: 1 }]), TypeError)
  })
})

describe('tracker URLs', () => {
  test('a base URL gets /announce; an announce URL stays as it is, query included', () => {
    assert.equal(announceUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000/announce')
    assert.equal(announceUrl('http://tracker:5000/'), 'http://tracker:5000/announce')
    assert.equal(announceUrl('http://tracker:5000/base'), 'http://tracker:5000/base/announce')
    assert.equal(announceUrl('http://tracker/announce'), 'http://tracker/announce')
    assert.equal(announceUrl('https://t.example/x/announce?passkey=abc'), 'https://t.example/x/announce?passkey=abc')
    assert.throws(() => announceUrl('udp://tracker:6969'), { code: 'ERR_VALIDATION' })
    assert.throws(() => announceUrl('http://[bad'), { code: 'ERR_VALIDATION' })
  })

  test('BEP 48: the scrape URL replaces announce with scrape', () => {
    assert.equal(scrapeUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000/scrape')
    assert.equal(scrapeUrl('http://t/x/announce?passkey=abc'), 'http://t/x/scrape?passkey=abc')
  })

  test('percent-encoding is binary-safe: every byte round-trips through the tracker\'s parser', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const encoded = percentEncodeBytes(all)
    assert.match(encoded, /^(%[0-9A-F]{2}|[A-Za-z0-9._~-])+$/)
    assert.equal(percentEncodeBytes(Buffer.from('aZ09-._~ +/', 'latin1')), 'aZ09-._~%20%2B%2F')
    for (let i = 0; i < 256; i += 20) {
      const slice = all.subarray(i, i + 20)
      if (slice.length < 20) break
      const parsed = parseAnnounce(`/announce?info_hash=${percentEncodeBytes(slice)}&peer_id=${percentEncodeBytes(slice)}&port=1&left=0`)
      assert.equal(parsed.infoHash, slice.toString('hex'))
      assert.equal(parsed.peerId, slice.toString('latin1'))
    }
  })
})

describe('announce()', () => {
  test('sends every parameter, binary-safe, and reads a compact reply with peers6', async () => {
    replyWith(bencode({
      complete: 2,
      incomplete: 1,
      interval: 1800,
      'min interval': 900,
      peers: Buffer.from('0a0000011ae1c0a80001ffff', 'hex'),
      peers6: Buffer.from('20010db8000000000000000000000001' + '01bb', 'hex'),
      'warning message': 'be nice',
      'tracker id': 'T1'
    }))
    seen.length = 0
    const result = await announce(request({ event: 'started', numwant: 10, key: 'k y', trackerId: 'T0' }))
    assert.deepEqual(result, {
      interval: 1800,
      minInterval: 900,
      complete: 2,
      incomplete: 1,
      warning: 'be nice',
      trackerId: 'T1',
      peers: [{ ip: '10.0.0.1', port: 6881 }, { ip: '192.168.0.1', port: 65535 }, { ip: '2001:db8::1', port: 443 }]
    })
    const sent = seen[0] ?? assert.fail('no request')
    assert.ok(sent.startsWith('/announce?'), sent)
    const params = parseAnnounce(sent)
    assert.equal(params.infoHash, INFO)
    assert.equal(params.peerId, PEER_ID.toString('latin1'))
    assert.deepEqual([params.port, params.uploaded, params.downloaded, params.left, params.event, params.numwant, params.compact], [6881, 1, 2, 3, 'started', 10, true])
    assert.match(sent, /&key=k%20y&trackerid=T0$/)
  })

  test('reads the dictionary form, skipping entries that are not an IP with a port', async () => {
    replyWith(bencode({
      interval: 60,
      peers: [
        { ip: '10.0.0.2', 'peer id': Buffer.alloc(20), port: 7000 },
        { ip: '2001:db8::2', port: 7001 },
        { ip: 'example.com', port: 7002 },
        { ip: '10.0.0.3', port: 0 },
        { ip: '10.0.0.4' },
        'junk',
        { ip: '10.0.0.5', port: 70000 }
      ]
    }))
    const result = await announce(request())
    assert.deepEqual(result, { interval: 60, peers: [{ ip: '10.0.0.2', port: 7000 }, { ip: '2001:db8::2', port: 7001 }] })
  })

  test('a failure reason is ERR_TRACKER_FAILURE carrying the reason, whatever the HTTP status', async () => {
    for (const status of [200, 400]) {
      replyWith(bencode({ 'failure reason': 'Invalid parameter: port: must be an integer from 1 to 65535' }), status)
      await assert.rejects(announce(request()), (err: unknown) => {
        assert.ok(err instanceof TrackerFailureError)
        assert.equal(err.code, 'ERR_TRACKER_FAILURE')
        assert.equal(err.failureReason, 'Invalid parameter: port: must be an integer from 1 to 65535')
        return true
      })
    }
  })

  test('a private tracker\'s passkey is sent but never shown in an error message', async () => {
    const key = 'cd'.repeat(16)
    replyWith(bencode({ 'failure reason': 'Passkey revoked' }))
    await assert.rejects(announce(request({ url: `${base}/announce?passkey=${key}` })), (err: unknown) => {
      assert.ok(err instanceof TrackerFailureError)
      assert.equal(err.message, `Tracker at ${base}/announce?passkey=… refused: Passkey revoked`)
      return true
    })
    assert.match(seen.at(-1) ?? '', new RegExp(`^/announce\\?passkey=${key}&info_hash=`))
    replyWith('<html>not a tracker</html>', 502)
    await assert.rejects(scrape(`${base}/announce?passkey=${key}`, [INFO]), (err: unknown) => {
      assert.equal((err as Error).message.includes(key), false, (err as Error).message)
      return true
    })
  })

  test('garbage is ERR_TRACKER_REPLY: HTML, a list, no interval, bad compact lengths, a non-200 without failure reason', async () => {
    const cases: Array<[Buffer | string, number, RegExp]> = [
      ['<html>Not Found</html>', 404, /HTTP 404 with no bencoded reply/],
      [bencode([1, 2]), 200, /not a dictionary/],
      [bencode({ peers: Buffer.alloc(0) }), 200, /no interval/],
      [bencode({ interval: 5, peers: Buffer.alloc(7) }), 200, /peers is 7 bytes/],
      [bencode({ interval: 5, peers: Buffer.alloc(0), peers6: Buffer.alloc(19) }), 200, /peers6 is 19 bytes/],
      [bencode({ interval: 5, peers: 5 }), 200, /neither a string nor a list/],
      [bencode({ interval: 5 }), 500, /answered HTTP 500/]
    ]
    for (const [body, status, message] of cases) {
      replyWith(body, status)
      await assert.rejects(announce(request()), { code: 'ERR_TRACKER_REPLY', message })
    }
    // A trailing newline after the dictionary is tolerated.
    replyWith(Buffer.concat([bencode({ interval: 5, peers: Buffer.alloc(0) }), Buffer.from('\n')]))
    assert.deepEqual(await announce(request()), { interval: 5, peers: [] })
  })

  test('a reply above the size cap is cut off, declared or streamed', async () => {
    const big = Buffer.alloc(ANNOUNCE_MAX_REPLY_BYTES + 1, 0x30)
    replyWith(big)
    await assert.rejects(announce(request()), { code: 'ERR_TRACKER_REPLY', message: /above 1048576 bytes/ })
    handler = (_req, res) => {
      res.writeHead(200) // chunked: no content-length
      const chunk = Buffer.alloc(64 * 1024, 0x30)
      for (let i = 0; i < 17; i++) res.write(chunk)
      res.end()
    }
    await assert.rejects(announce(request()), { code: 'ERR_TRACKER_REPLY', message: /above 1048576 bytes/ })
  })

  test('no tracker or no answer is ERR_TRACKER_UNREACHABLE; an abort is ERR_ABORTED', async () => {
    const closed = createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const port = (closed.address() as AddressInfo).port
    closed.close()
    await once(closed, 'close')
    await assert.rejects(announce(request({ url: `127.0.0.1:${port}` })), { code: 'ERR_TRACKER_UNREACHABLE', message: /ECONNREFUSED/ })

    handler = () => { /* never answers */ }
    await assert.rejects(announce(request({ timeoutMs: 100 })), { code: 'ERR_TRACKER_UNREACHABLE', message: /no answer within 100 ms/ })
    const controller = new AbortController()
    const pending = announce(request({ signal: controller.signal }))
    setTimeout(() => controller.abort(), 20)
    await assert.rejects(pending, { code: 'ERR_ABORTED' })
    await assert.rejects(announce(request({ signal: AbortSignal.abort() })), { code: 'ERR_ABORTED' })
  })

  test('bad arguments are ERR_VALIDATION before any request', async () => {
    seen.length = 0
    await assert.rejects(announce(request({ infoHash: 'abc' })), { code: 'ERR_VALIDATION' })
    await assert.rejects(announce(request({ peerId: Buffer.alloc(19) })), { code: 'ERR_VALIDATION' })
    await assert.rejects(announce(request({ port: 0 })), { code: 'ERR_VALIDATION' })
    await assert.rejects(announce(request({ left: -1 })), { code: 'ERR_VALIDATION' })
    await assert.rejects(announce(request({ uploaded: 1.5 })), { code: 'ERR_VALIDATION' })
    assert.deepEqual(seen, [])
  })
})

describe('scrape()', () => {
  test('sends each hash, reads the files dictionary by raw key, skips malformed entries', async () => {
    const a = Buffer.from(INFO, 'hex')
    const b = Buffer.alloc(20, 0xff)
    const stats = 'd8:completei3e10:downloadedi7e10:incompletei1ee'
    replyWith(Buffer.concat([
      Buffer.from('d5:filesd', 'latin1'),
      Buffer.from('19:'), Buffer.alloc(19), Buffer.from(stats),
      Buffer.from('20:'), a, Buffer.from(stats),
      Buffer.from('20:'), b, Buffer.from('d8:completei-1ee'),
      Buffer.from('ee')
    ]))
    seen.length = 0
    const result = await scrape(`${base}/announce`, [INFO, b.toString('hex')])
    assert.deepEqual([...result], [[INFO, { complete: 3, incomplete: 1, downloaded: 7 }], [b.toString('hex'), { complete: 0, incomplete: 0, downloaded: 0 }]])
    // (A request an earlier test gave up on may still reach the server meanwhile: look for the scrape itself.)
    assert.equal(seen.find(p => p.startsWith('/scrape')), `/scrape?info_hash=${percentEncodeBytes(a)}&info_hash=${percentEncodeBytes(b)}`)
    replyWith(bencode({ nothing: 1 }))
    await assert.rejects(scrape(base, [INFO]), { code: 'ERR_TRACKER_REPLY', message: /without files/ })
    await assert.rejects(scrape(base, []), { code: 'ERR_VALIDATION' })
  })
})
