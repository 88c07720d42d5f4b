import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeBase64Reply, encodeChunkRequest, looksComplete, parseChunkRequest, peerErrorReply, sniffProtocol
} from '../../src/wire/index.js'

const HASH = 'a'.repeat(40)

test('a request round-trips through encode and parse', () => {
  assert.deepEqual(parseChunkRequest(encodeChunkRequest(HASH, 7)), { type: 'request', fileHash: HASH, chunkId: 7 })
})

test('request parsing tolerates what the Python server tolerates: CRLF, extra spaces, upper-case hash', () => {
  assert.deepEqual(parseChunkRequest(Buffer.from(`  GET_CHUNK   ${HASH.toUpperCase()}  3 \r\n`)), { type: 'request', fileHash: HASH, chunkId: 3 })
})

test('anything but GET_CHUNK with three tokens is invalid (closed without a reply)', () => {
  for (const text of ['', 'HELLO', 'GET_CHUNK', `GET_CHUNK ${HASH}`, `GET_CHUNK ${HASH} 1 2`, `get_chunk ${HASH} 1`, `\x13BitTorrent protocol`]) {
    assert.deepEqual(parseChunkRequest(Buffer.from(text)), { type: 'invalid' }, JSON.stringify(text))
  }
})

test('a chunk id that is not a non-negative integer is a server error, as int() failing in Python', () => {
  for (const id of ['-1', 'abc', '1.5', '0x10', '1e3', '9999999999999999999']) {
    assert.equal(parseChunkRequest(Buffer.from(`GET_CHUNK ${HASH} ${id}`)).type, 'bad-id', id)
  }
  assert.deepEqual(parseChunkRequest(Buffer.from(`GET_CHUNK ${HASH} +4`)), { type: 'request', fileHash: HASH, chunkId: 4 })
})

test('looksComplete waits for the third token', () => {
  const full = encodeChunkRequest(HASH, 12)
  for (let i = 0; i < full.length; i++) {
    const head = full.subarray(0, i)
    const expected = head.toString().trim().split(/\s+/).length >= 3
    assert.equal(looksComplete(head), expected, `prefix of ${i} bytes`)
  }
  assert.equal(looksComplete(full), true)
})

test('sniffing decides at every split offset of a BitTorrent handshake and a legacy request', () => {
  const bt = Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.alloc(48)])
  const legacy = encodeChunkRequest(HASH, 0)
  for (let i = 1; i <= bt.length; i++) assert.equal(sniffProtocol(bt.subarray(0, i)), i < 20 ? 'undecided' : 'bittorrent', `bt ${i}`)
  for (let i = 1; i <= legacy.length; i++) assert.equal(sniffProtocol(legacy.subarray(0, i)), i < 9 ? 'undecided' : 'legacy', `legacy ${i}`)
  assert.equal(sniffProtocol(Buffer.from('GET / HTTP/1.1')), 'unknown')
  assert.equal(sniffProtocol(Buffer.from('  \r\n')), 'undecided')
  assert.equal(sniffProtocol(Buffer.from('\x16\x03\x01')), 'unknown')
})

test('peer error replies become errors carrying the peer\'s words', () => {
  assert.match(peerErrorReply(Buffer.from('ERROR: File not found'))?.message ?? '', /File not found/)
  assert.equal(peerErrorReply(Buffer.from('aGVsbG8=')), undefined)
})

test('base64 replies decode only when well formed and of the expected length', () => {
  assert.deepEqual(decodeBase64Reply(Buffer.from('aGVsbG8='), 5), Buffer.from('hello'))
  assert.throws(() => decodeBase64Reply(Buffer.from('aGVsbG8='), 6), { code: 'ERR_BAD_LENGTH' })
  assert.throws(() => decodeBase64Reply(Buffer.from('aGVsbG8'), 5), { code: 'ERR_BAD_REPLY' })
  assert.throws(() => decodeBase64Reply(Buffer.from('ERROR: Chunk out of range'), 5), { code: 'ERR_BAD_REPLY' })
})
