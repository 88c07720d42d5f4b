/**
 * BEP 15 messages: the bytes of every request and reply against the layout tables of the spec, written out by hand,
 * and decoding of what a tracker or client may send wrong.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { udpTrackerMessages as m, type UdpTrackerReply, type UdpTrackerRequest } from '../../src/discovery/index.js'

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex')
const INFO = '0123456789abcdef0123456789abcdef01234567'
const INFO2 = 'fedcba9876543210fedcba9876543210fedcba98'
const PEER_ID = '-PS0010-abcdefghijkl'
const CID = hex('0102030405060708')

describe('requests (BEP 15 layouts)', () => {
  test('connect: protocol id 0x41727101980, action 0, transaction id', () => {
    const bytes = m.encodeRequest({ type: 'connect', transactionId: 0x12345678 })
    assert.deepEqual(bytes, hex('00000417 27101980 00000000 12345678'))
    assert.deepEqual(m.decodeRequest(bytes), { type: 'connect', transactionId: 0x12345678 })
  })

  test('announce: 98 bytes at the offsets of the spec, 64-bit counters, signed num_want', () => {
    const request: UdpTrackerRequest = {
      type: 'announce',
      connectionId: CID,
      transactionId: 0xdeadbeef,
      infoHash: INFO,
      peerId: PEER_ID,
      downloaded: 2 ** 40 + 5,
      left: 1000,
      uploaded: 0,
      event: m.EVENT_STARTED,
      ip: 0,
      key: 0xcafebabe,
      numWant: -1,
      port: 6881
    }
    const bytes = m.encodeRequest(request)
    assert.equal(bytes.length, m.ANNOUNCE_REQUEST_BYTES)
    assert.deepEqual(bytes, Buffer.concat([
      CID, hex('00000001 deadbeef'), hex(INFO), Buffer.from(PEER_ID, 'latin1'),
      hex('00000100 00000005'), // downloaded 2^40 + 5
      hex('00000000 000003e8'), // left 1000
      hex('00000000 00000000'), // uploaded
      hex('00000002'), // event: started
      hex('00000000'), // IP address: default
      hex('cafebabe'), // key
      hex('ffffffff'), // num_want -1
      hex('1ae1') // port 6881
    ]))
    assert.deepEqual(m.decodeRequest(bytes), request)
  })

  test('scrape: 16 + 20 bytes per info hash', () => {
    const bytes = m.encodeRequest({ type: 'scrape', connectionId: CID, transactionId: 7, infoHashes: [INFO, INFO2] })
    assert.deepEqual(bytes, Buffer.concat([CID, hex('00000002 00000007'), hex(INFO), hex(INFO2)]))
    assert.deepEqual(m.decodeRequest(bytes), { type: 'scrape', connectionId: CID, transactionId: 7, infoHashes: [INFO, INFO2] })
  })

  test('an announce request may carry BEP 41 options after byte 98: they are ignored', () => {
    const bytes = m.encodeRequest({ type: 'announce', connectionId: CID, transactionId: 1, infoHash: INFO, peerId: PEER_ID, downloaded: 0, left: 0, uploaded: 0, event: 0, ip: 0, key: 0, numWant: 50, port: 1 })
    const decoded = m.decodeRequest(Buffer.concat([bytes, hex('02 05 2f61626364 00')]))
    assert.equal(decoded.type, 'announce')
    assert.equal(decoded.type === 'announce' && decoded.numWant, 50)
  })

  test('lengths are checked before any field is read', () => {
    const connect = m.encodeRequest({ type: 'connect', transactionId: 1 })
    const announce = m.encodeRequest({ type: 'announce', connectionId: CID, transactionId: 1, infoHash: INFO, peerId: PEER_ID, downloaded: 0, left: 0, uploaded: 0, event: 0, ip: 0, key: 0, numWant: 50, port: 1 })
    const scrape = m.encodeRequest({ type: 'scrape', connectionId: CID, transactionId: 1, infoHashes: [INFO] })
    const bad: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(0), /request of 0 bytes/],
      [connect.subarray(0, 15), /request of 15 bytes/],
      [Buffer.concat([hex('0000041727101981'), connect.subarray(8)]), /without the protocol id/],
      [announce.subarray(0, 97), /announce request of 97 bytes/],
      [scrape.subarray(0, 16), /scrape request of 16 bytes/],
      [scrape.subarray(0, 35), /scrape request of 35 bytes/],
      [Buffer.concat([scrape, Buffer.alloc(1)]), /scrape request of 37 bytes/],
      [Buffer.concat([CID, hex('00000009 00000001')]), /unknown action 9/]
    ]
    for (const [bytes, message] of bad) {
      assert.throws(() => m.decodeRequest(bytes), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_UDP_TRACKER_PACKET')
        assert.match(err.message, message)
        return true
      })
    }
  })

  test('scrapeHashCount: 16 + 20n with n ≥ 1, else -1', () => {
    assert.equal(m.scrapeHashCount(36), 1)
    assert.equal(m.scrapeHashCount(16 + 74 * 20), 74)
    for (const length of [0, 16, 35, 37, 55]) assert.equal(m.scrapeHashCount(length), -1, String(length))
  })

  test('bad fields are refused when encoding, not sent truncated', () => {
    assert.throws(() => m.encodeRequest({ type: 'scrape', connectionId: CID, transactionId: 1, infoHashes: ['abc'] }), TypeError)
    assert.throws(() => m.encodeRequest({ type: 'scrape', connectionId: Buffer.alloc(4), transactionId: 1, infoHashes: [INFO] }), TypeError)
    assert.throws(() => m.encodeRequest({ type: 'announce', connectionId: CID, transactionId: 1, infoHash: INFO, peerId: 'short', downloaded: 0, left: 0, uploaded: 0, event: 0, ip: 0, key: 0, numWant: 1, port: 1 }), TypeError)
  })
})

describe('replies (BEP 15 layouts)', () => {
  const v4 = { ipv6: false, maxPeers: 1000 }
  const v6 = { ipv6: true, maxPeers: 1000 }

  test('connect reply: action 0, transaction id, connection id', () => {
    const bytes = m.encodeReply({ type: 'connect', transactionId: 0x01020304, connectionId: CID })
    assert.deepEqual(bytes, hex('00000000 01020304 0102030405060708'))
    assert.deepEqual(m.decodeReply(bytes, v4), { type: 'connect', transactionId: 0x01020304, connectionId: CID })
  })

  test('IPv4 announce reply: 20-byte header, 6 bytes per peer', () => {
    const reply: UdpTrackerReply = {
      type: 'announce', transactionId: 9, interval: 1800, leechers: 3, seeders: 2,
      peers: [{ ip: '10.0.0.1', port: 6881 }, { ip: '192.168.1.200', port: 65535 }]
    }
    const bytes = m.encodeReply(reply)
    assert.deepEqual(bytes, hex('00000001 00000009 00000708 00000003 00000002 0a000001 1ae1 c0a801c8 ffff'))
    assert.deepEqual(m.decodeReply(bytes, v4), reply)
  })

  test('IPv6 announce reply: the same header, 18 bytes per peer', () => {
    const reply: UdpTrackerReply = {
      type: 'announce', transactionId: 9, interval: 60, leechers: 1, seeders: 0, peers: [{ ip: '2001:db8::1', port: 51413 }]
    }
    const bytes = m.encodeReply(reply, true)
    assert.deepEqual(bytes, hex('00000001 00000009 0000003c 00000001 00000000 20010db8000000000000000000000001 c8d5'))
    assert.deepEqual(m.decodeReply(bytes, v6), reply)
    // The family of the reply is the transport's: IPv4 peers are left out of an IPv6 reply, and the other way.
    assert.equal(m.encodeReply({ ...reply, peers: [{ ip: '10.0.0.1', port: 1 }] }, true).length, 20)
    assert.equal(m.encodeReply({ ...reply, peers: [{ ip: '::1', port: 1 }] }, false).length, 20)
  })

  test('announce reply peers that are not whole entries are refused; maxPeers bounds what is taken', () => {
    const good = m.encodeReply({ type: 'announce', transactionId: 1, interval: 1, leechers: 0, seeders: 0, peers: [{ ip: '1.2.3.4', port: 5 }, { ip: '1.2.3.5', port: 6 }] })
    assert.throws(() => m.decodeReply(good.subarray(0, 25), v4), /5 bytes of peers, not a multiple of 6/)
    assert.throws(() => m.decodeReply(good, v6), /12 bytes of peers, not a multiple of 18/)
    assert.throws(() => m.decodeReply(good.subarray(0, 19), v4), /announce reply of 19 bytes/)
    const capped = m.decodeReply(good, { ipv6: false, maxPeers: 1 })
    assert.deepEqual(capped.type === 'announce' && capped.peers, [{ ip: '1.2.3.4', port: 5 }])
  })

  test('scrape reply: seeders, completed, leechers per hash, in order', () => {
    const reply: UdpTrackerReply = { type: 'scrape', transactionId: 5, entries: [{ seeders: 1, completed: 2, leechers: 3 }, { seeders: 0, completed: 0, leechers: 0 }] }
    const bytes = m.encodeReply(reply)
    assert.deepEqual(bytes, hex('00000002 00000005 00000001 00000002 00000003 00000000 00000000 00000000'))
    assert.deepEqual(m.decodeReply(bytes, v4), reply)
  })

  test('error reply: action 3, the message as text; control characters and NUL terminators do not reach a log line', () => {
    const bytes = m.encodeErrorReply(77, 'Invalid connection id')
    assert.deepEqual(bytes, Buffer.concat([hex('00000003 0000004d'), Buffer.from('Invalid connection id')]))
    assert.deepEqual(m.decodeReply(bytes, v4), { type: 'error', transactionId: 77, message: 'Invalid connection id' })
    const nasty = Buffer.concat([hex('00000003 00000001'), Buffer.from('bad\r\nthing\x1b[31m\x00')])
    assert.deepEqual(m.decodeReply(nasty, v4), { type: 'error', transactionId: 1, message: 'bad thing [31m' })
    const long = Buffer.concat([hex('00000003 00000001'), Buffer.alloc(5000, 0x61)])
    const decoded = m.decodeReply(long, v4)
    assert.equal(decoded.type === 'error' && decoded.message.length, m.MAX_ERROR_MESSAGE_BYTES)
  })

  test('replies too short for their action, or of an unknown action, are refused', () => {
    assert.throws(() => m.decodeReply(hex('000000'), v4), /reply of 3 bytes/)
    assert.throws(() => m.decodeReply(hex('00000000 00000001 01020304'), v4), /connect reply of 12 bytes/)
    assert.throws(() => m.decodeReply(hex('00000007 00000001'), v4), /unknown action 7/)
  })
})
