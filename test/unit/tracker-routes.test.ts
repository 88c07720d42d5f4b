import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { InjectOptions } from 'fastify'
import { createTracker, trackerBanner, trackerLimits, type Tracker } from '../../src/tracker/index.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const HASH_A = sha1('a')
const HASH_B = sha1('b')
const HASH_C = sha1('c')

type Body = Record<string, unknown>

/** A valid registration as hybrid_peer.py sends it (18-byte file: one chunk in either dialect). */
function reg (overrides: Body = {}): Body {
  return { file_name: 'testfile.txt', file_hash: HASH_A, file_size: 18, chunks: [0], ip: '192.168.1.5', port: 6000, ...overrides }
}

function without (body: Body, ...names: string[]): Body {
  const copy = { ...body }
  for (const name of names) delete copy[name]
  return copy
}

interface Reply {
  status: number
  json: unknown
  raw: string
  headers: Record<string, unknown>
}

let tracker: Tracker

async function request (method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD', url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: InjectOptions = { method, url, headers }
  if (payload !== undefined) {
    init.payload = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload)
    init.headers = { 'content-type': 'application/json', ...headers }
  }
  const res = await tracker.app.inject(init)
  assert.match(String(res.headers['content-type'] ?? 'application/json'), /^application\/json/)
  return { status: res.statusCode, json: res.body === '' ? undefined : JSON.parse(res.body), raw: res.body, headers: res.headers }
}

const register = (body: unknown, headers?: Record<string, string>): Promise<Reply> => request('POST', '/register', body, headers)
const get = (url: string): Promise<Reply> => request('GET', url)

/** A /files reply with each entry's `added_at` (a reading of the real clock) checked to be a time and taken out. */
function addedAtChecked (json: unknown): unknown {
  const reply = json as { files: Body[] }
  for (const file of reply.files) {
    assert.ok(Number.isSafeInteger(file.added_at) && (file.added_at as number) > 0, `added_at ${String(file.added_at)}`)
    delete file.added_at
  }
  return reply
}

async function expectError (reply: Promise<Reply>, status: number, error: string): Promise<void> {
  const r = await reply
  assert.equal(r.status, status, `status for ${error}: got ${r.raw}`)
  assert.deepEqual(r.json, { error })
}

async function expectRegistered (body: unknown, message: string, peersCount: number): Promise<void> {
  const r = await register(body)
  assert.equal(r.status, 200, r.raw)
  assert.deepEqual(r.json, { file_hash: ((body as Body).file_hash as string).toLowerCase(), message, peers_count: peersCount })
}

beforeEach(async () => {
  // Hundreds of requests from one address are these tests' tool: the abuse limits have their own (tracker-abuse.test.ts).
  tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, rateLimits: false })
})

afterEach(async () => {
  await tracker.close()
})

describe('POST /register (seed API)', () => {
  test('first registration: the seed reply, keys sorted, compact, newline-terminated', async () => {
    const r = await register(reg())
    assert.equal(r.status, 200)
    assert.equal(r.raw, `{"file_hash":"${HASH_A}","message":"Peer registered successfully","peers_count":1}\n`)
  })

  test('a second (ip, port) adds a peer; the same (ip, port) again is an update that replaces its chunks', async () => {
    const body = reg({ file_size: 5000, chunks: [0, 1, 2, 3, 4] })
    await expectRegistered(body, 'Peer registered successfully', 1)
    await expectRegistered({ ...body, port: 6001, chunks: [0] }, 'Peer registered successfully', 2)
    await expectRegistered({ ...body, chunks: [4] }, 'Peer updated successfully', 2)
    const lookup = await get('/lookup?file_name=testfile.txt')
    assert.deepEqual(lookup.json, {
      file_hash: HASH_A,
      file_name: 'testfile.txt',
      file_size: 5000,
      peers: [
        { ip: '192.168.1.5', port: 6000, chunks: [4] },
        { ip: '192.168.1.5', port: 6001, chunks: [0] }
      ]
    })
  })

  test('peers are one per (ip, port): another ip with the same port is another peer', async () => {
    await expectRegistered(reg(), 'Peer registered successfully', 1)
    await expectRegistered(reg({ ip: '192.168.1.6' }), 'Peer registered successfully', 2)
    await expectRegistered(reg({ ip: '192.168.1.6' }), 'Peer updated successfully', 2)
  })

  test('the first registration of a hash fixes its name and size', async () => {
    await expectRegistered(reg({ file_name: 'first.txt' }), 'Peer registered successfully', 1)
    await expectRegistered(reg({ file_name: 'renamed.txt', port: 6001 }), 'Peer registered successfully', 2)
    await expectError(get('/lookup?file_name=renamed.txt'), 404, 'File not found')
    const lookup = await get('/lookup?file_name=first.txt')
    assert.equal((lookup.json as Body).file_name, 'first.txt')
    assert.equal(((lookup.json as Body).peers as unknown[]).length, 2)
    const files = await get('/files')
    assert.deepEqual(addedAtChecked(files.json), { files: [{ completed: 0, file_hash: HASH_A, file_name: 'first.txt', file_size: 18, peers_count: 2 }], total: 1 })
  })

  test('a size that differs from the registered one is refused (same hash, same bytes)', async () => {
    await register(reg())
    await expectError(register(reg({ file_size: 19, port: 6001 })), 400,
      'Invalid field: file_size: 19 differs from the size registered for this hash (18)')
    const files = await get('/files')
    assert.equal(((files.json as { files: Body[] }).files[0] as Body).peers_count, 1)
  })

  test('the hash is stored lower case: upper and lower case name the same file', async () => {
    await expectRegistered(reg({ file_hash: HASH_A.toUpperCase() }), 'Peer registered successfully', 1)
    await expectRegistered(reg({ file_hash: HASH_A }), 'Peer updated successfully', 1)
    const lookup = await get('/lookup?file_name=testfile.txt')
    assert.equal((lookup.json as Body).file_hash, HASH_A)
  })

  test('IPv6 is stored canonical and an IPv4-mapped address is its IPv4 (one peer either way)', async () => {
    await expectRegistered(reg({ ip: '2001:DB8:0:0:0:0:0:1' }), 'Peer registered successfully', 1)
    await expectRegistered(reg({ ip: '2001:db8::1' }), 'Peer updated successfully', 1)
    await expectRegistered(reg({ ip: '::ffff:192.168.1.5' }), 'Peer registered successfully', 2)
    await expectRegistered(reg({ ip: '192.168.1.5' }), 'Peer updated successfully', 2)
    const lookup = await get('/lookup?file_name=testfile.txt')
    assert.deepEqual(((lookup.json as Body).peers as Body[]).map((p) => p.ip), ['2001:db8::1', '192.168.1.5'])
  })

  test('unknown fields are ignored; a JSON body with a byte order mark and charset is accepted', async () => {
    await expectRegistered(reg({ extra: { nested: true } }), 'Peer registered successfully', 1)
    const r = await register(`\ufeff${JSON.stringify(reg({ port: 6001 }))}`, { 'content-type': 'application/json; charset=utf-8' })
    assert.equal(r.status, 200, r.raw)
    assert.equal((r.json as Body).peers_count, 2)
  })

  test('chunk ids are kept compactly and come back complete and ascending', async () => {
    const size = 100_000 * 1024
    const ids = Array.from({ length: 100_000 }, (_, i) => i)
    await expectRegistered(reg({ file_size: size, chunks: ids }), 'Peer registered successfully', 1)
    const shuffled = [5, 3, 99_999, 4, 0, 7]
    await expectRegistered(reg({ file_size: size, chunks: shuffled, port: 6001 }), 'Peer registered successfully', 2)
    const lookup = await get('/lookup?file_name=testfile.txt')
    const peers = (lookup.json as { peers: Array<{ chunks: number[] }> }).peers
    assert.deepEqual(peers[0]?.chunks, ids)
    assert.deepEqual(peers[1]?.chunks, [0, 3, 4, 5, 7, 99_999])
  })

  test('an empty file registers with no chunks', async () => {
    await expectRegistered(reg({ file_name: 'empty', file_size: 0, chunks: [] }), 'Peer registered successfully', 1)
    const lookup = await get('/lookup?file_name=empty')
    assert.deepEqual(lookup.json, { file_hash: HASH_A, file_name: 'empty', file_size: 0, peers: [{ ip: '192.168.1.5', port: 6000, chunks: [] }] })
  })

  test('the chunk_size extension is stored per peer and listed only for the peers that sent it', async () => {
    await expectRegistered(reg({ file_size: 3 * 1024 * 1024, chunks: [0, 1, 2], chunk_size: 1048576 }), 'Peer registered successfully', 1)
    await expectRegistered(reg({ file_size: 3 * 1024 * 1024, chunks: [0, 1, 2], port: 6001 }), 'Peer registered successfully', 2)
    await expectRegistered(reg({ file_size: 3 * 1024 * 1024, chunks: [3071], chunk_size: 1024, port: 6002 }), 'Peer registered successfully', 3)
    const lookup = await get('/lookup?file_name=testfile.txt')
    assert.equal(lookup.raw, `{"file_hash":"${HASH_A}","file_name":"testfile.txt","file_size":3145728,"peers":[` +
      '{"chunk_size":1048576,"chunks":[0,1,2],"ip":"192.168.1.5","port":6000},' +
      '{"chunks":[0,1,2],"ip":"192.168.1.5","port":6001},' +
      '{"chunk_size":1024,"chunks":[3071],"ip":"192.168.1.5","port":6002}]}\n')
    // An update without chunk_size drops it: the registration is replaced as a whole.
    await expectRegistered(reg({ file_size: 3 * 1024 * 1024, chunks: [0] }), 'Peer updated successfully', 3)
    const again = await get('/lookup?file_name=testfile.txt')
    assert.deepEqual((again.json as { peers: Body[] }).peers[0], { ip: '192.168.1.5', port: 6000, chunks: [0] })
  })
})

describe('POST /register: missing fields, in server.py\'s order', () => {
  const order = ['file_name', 'file_hash', 'file_size', 'chunks', 'ip', 'port']
  for (const [i, name] of order.entries()) {
    test(`without ${name}: "Missing field: ${name}"`, async () => {
      await expectError(register(without(reg(), name)), 400, `Missing field: ${name}`)
      // Every later field missing too: still the first one is named.
      await expectError(register(without(reg(), ...order.slice(i))), 400, `Missing field: ${name}`)
    })
  }

  test('an empty object names file_name; missing is checked before any value', async () => {
    await expectError(register({}), 400, 'Missing field: file_name')
    await expectError(register({ file_name: 5, port: 'x' }), 400, 'Missing field: file_hash')
  })

  test('null is a value, not a missing field', async () => {
    await expectError(register(reg({ file_name: null })), 400, 'Invalid field: file_name: must be a string')
    await expectError(register(reg({ port: null })), 400, 'Invalid field: port: must be an integer from 1 to 65535')
  })
})

describe('POST /register: bodies that are not a JSON object', () => {
  const cases: Array<[string, string | Buffer, number, string]> = [
    ['null', 'null', 400, 'Request body must be a JSON object'],
    ['an array', '[1,2]', 400, 'Request body must be a JSON object'],
    ['a string', '"file_name"', 400, 'Request body must be a JSON object'],
    ['a number', '42', 400, 'Request body must be a JSON object'],
    ['invalid JSON', '{"file_name": ', 400, 'Invalid JSON body: syntax error'],
    ['trailing garbage', '{}x', 400, 'Invalid JSON body: syntax error'],
    ['an empty body', '', 400, 'Invalid JSON body: empty'],
    ['bad UTF-8 in the name', Buffer.concat([Buffer.from('{"file_name":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt"}')]), 400,
      'Invalid JSON body: not valid UTF-8'],
    ['an overlong UTF-8 encoding of "/"', Buffer.concat([Buffer.from('{"file_name":"a'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), 400,
      'Invalid JSON body: not valid UTF-8']
  ]
  for (const [what, payload, status, error] of cases) {
    test(`${what}: ${status} "${error}"`, async () => {
      await expectError(register(payload), status, error)
    })
  }

  test('another content type: 415', async () => {
    await expectError(register(JSON.stringify(reg()), { 'content-type': 'text/plain' }), 415, 'Unsupported content type: expected application/json')
    await expectError(register(JSON.stringify(reg()), { 'content-type': 'application/x-www-form-urlencoded' }), 415,
      'Unsupported content type: expected application/json')
  })

  test('no body at all: 400', async () => {
    await expectError(request('POST', '/register'), 400, 'Request body must be a JSON object')
  })

  test('a body over the limit: 413, before it is parsed', async () => {
    const limit = trackerLimits.TRACKER_BODY_LIMIT_BYTES
    const big = JSON.stringify(reg({ padding: 'x'.repeat(limit) }))
    await expectError(register(big), 413, `Request body too large (limit ${limit} bytes)`)
  })

  test('a body just under the limit is parsed (a 1 GiB file in 1 KiB chunks fits)', async () => {
    const count = 1024 * 1024
    const body = JSON.stringify(reg({ file_size: count * 1024, chunks: Array.from({ length: count }, (_, i) => i) }))
    assert.ok(body.length < trackerLimits.TRACKER_BODY_LIMIT_BYTES)
    const r = await register(body)
    assert.equal(r.status, 200, r.raw)
  })
})

describe('POST /register: every value validated', () => {
  const KIB = 1024
  const MIB = 1024 * 1024
  const cases: Array<[string, Body, string]> = [
    // file_name
    ['file_name a number', { file_name: 5 }, 'Invalid field: file_name: must be a string'],
    ['file_name an array', { file_name: ['a'] }, 'Invalid field: file_name: must be a string'],
    ['file_name empty', { file_name: '' }, 'Invalid field: file_name: must not be empty'],
    ['file_name a path', { file_name: 'dir/x.txt' }, "Invalid field: file_name: must be a base name (no '/' or '\\')"],
    ['file_name a Windows path', { file_name: 'dir\\x.txt' }, "Invalid field: file_name: must be a base name (no '/' or '\\')"],
    ['file_name ..', { file_name: '..' }, "Invalid field: file_name: must be a base name, not '.' or '..'"],
    ['file_name .', { file_name: '.' }, "Invalid field: file_name: must be a base name, not '.' or '..'"],
    ['file_name with NUL', { file_name: 'a\u0000b' }, 'Invalid field: file_name: must not contain control characters'],
    ['file_name with a newline', { file_name: 'a\nb' }, 'Invalid field: file_name: must not contain control characters'],
    ['file_name with DEL', { file_name: 'a\u007fb' }, 'Invalid field: file_name: must not contain control characters'],
    ['file_name with a C1 control', { file_name: 'a\u0085b' }, 'Invalid field: file_name: must not contain control characters'],
    // Unicode bidirectional controls reorder how a name shows ("Trojan Source"): every one of them is refused.
    ...['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'].map((c): [string, Body, string] =>
      [`file_name with U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`, { file_name: `photo${c}gpj.exe` },
        'Invalid field: file_name: must not contain Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)']),
    ['file_name with an unpaired surrogate', { file_name: 'a\ud800b' }, 'Invalid field: file_name: must be valid Unicode (unpaired surrogate)'],
    ['file_name of 256 bytes', { file_name: 'x'.repeat(256) }, 'Invalid field: file_name: must be at most 255 bytes of UTF-8'],
    ['file_name of 128 two-byte characters', { file_name: 'é'.repeat(128) }, 'Invalid field: file_name: must be at most 255 bytes of UTF-8'],
    // file_hash
    ['file_hash of 39 hex', { file_hash: 'a'.repeat(39) }, 'Invalid field: file_hash: must be 40 hexadecimal characters (a SHA-1)'],
    ['file_hash of 41 hex', { file_hash: 'a'.repeat(41) }, 'Invalid field: file_hash: must be 40 hexadecimal characters (a SHA-1)'],
    ['file_hash not hex', { file_hash: 'g'.repeat(40) }, 'Invalid field: file_hash: must be 40 hexadecimal characters (a SHA-1)'],
    ['file_hash with spaces', { file_hash: ` ${HASH_A.slice(1)}` }, 'Invalid field: file_hash: must be 40 hexadecimal characters (a SHA-1)'],
    ['file_hash a number', { file_hash: 1234 }, 'Invalid field: file_hash: must be 40 hexadecimal characters (a SHA-1)'],
    // file_size
    ['file_size negative', { file_size: -1 }, 'Invalid field: file_size: must not be negative'],
    ['file_size fractional', { file_size: 1.5 }, 'Invalid field: file_size: must be an integer'],
    ['file_size huge', { file_size: 2 ** 53 }, `Invalid field: file_size: must be at most ${Number.MAX_SAFE_INTEGER}`],
    ['file_size a string', { file_size: '18' }, 'Invalid field: file_size: must be an integer'],
    ['file_size a boolean', { file_size: true }, 'Invalid field: file_size: must be an integer'],
    // chunk_size (extension)
    ['chunk_size 4096', { chunk_size: 4096 }, 'Invalid field: chunk_size: must be 1024 or 1048576'],
    ['chunk_size a string', { chunk_size: '1024' }, 'Invalid field: chunk_size: must be 1024 or 1048576'],
    ['chunk_size null', { chunk_size: null }, 'Invalid field: chunk_size: must be 1024 or 1048576'],
    // chunks
    ['chunks a string', { chunks: '0,1' }, 'Invalid field: chunks: must be an array of chunk ids'],
    ['chunks an object', { chunks: { 0: 0 } }, 'Invalid field: chunks: must be an array of chunk ids'],
    ['chunks with a string id', { chunks: ['0'] }, 'Invalid field: chunks: chunk id at index 0 is not an integer'],
    ['chunks with a fractional id', { file_size: 4 * KIB, chunks: [0, 1.5] }, 'Invalid field: chunks: chunk id at index 1 is not an integer'],
    ['chunks with null', { chunks: [null] }, 'Invalid field: chunks: chunk id at index 0 is not an integer'],
    ['chunks with a negative id', { chunks: [-1] }, 'Invalid field: chunks: chunk id -1 is out of range (the file has 1 chunk of 1024 bytes)'],
    ['chunks duplicated, adjacent', { file_size: 4 * KIB, chunks: [0, 1, 1] }, 'Invalid field: chunks: duplicate chunk id 1'],
    ['chunks duplicated, apart', { file_size: 4 * KIB, chunks: [2, 0, 3, 1, 0] }, 'Invalid field: chunks: duplicate chunk id 0'],
    ['chunk id past an 18-byte file', { chunks: [0, 1] }, 'Invalid field: chunks: chunk id 1 is out of range (the file has 1 chunk of 1024 bytes)'],
    ['chunk id past the 1 KiB count', { file_size: 2 * KIB + 1, chunks: [3] }, 'Invalid field: chunks: chunk id 3 is out of range (the file has 3 chunks of 1024 bytes)'],
    ['chunk id past the declared 1 MiB count', { file_size: MIB + 1, chunk_size: MIB, chunks: [0, 1, 2] },
      'Invalid field: chunks: chunk id 2 is out of range (the file has 2 chunks of 1048576 bytes)'],
    ['a chunk of an empty file', { file_size: 0, chunks: [0] }, 'Invalid field: chunks: chunk id 0 is out of range (the file has 0 chunks of 1024 bytes)'],
    // ip
    ['ip a host name', { ip: 'example.com' }, 'Invalid field: ip: must be an IPv4 or IPv6 address'],
    ['ip out of range', { ip: '999.1.1.1' }, 'Invalid field: ip: must be an IPv4 or IPv6 address'],
    ['ip empty', { ip: '' }, 'Invalid field: ip: must be an IPv4 or IPv6 address'],
    ['ip with a space', { ip: '1.2.3.4 ' }, 'Invalid field: ip: must be an IPv4 or IPv6 address'],
    ['ip with a zone id', { ip: 'fe80::1%eth0' }, 'Invalid field: ip: must be an IPv4 or IPv6 address'],
    ['ip a number', { ip: 3232235781 }, 'Invalid field: ip: must be an IPv4 or IPv6 address'],
    // port
    ['port 0', { port: 0 }, 'Invalid field: port: must be an integer from 1 to 65535'],
    ['port 65536', { port: 65536 }, 'Invalid field: port: must be an integer from 1 to 65535'],
    ['port "6000"', { port: '6000' }, 'Invalid field: port: must be an integer from 1 to 65535'],
    ['port fractional', { port: 6000.5 }, 'Invalid field: port: must be an integer from 1 to 65535'],
    ['port negative', { port: -6000 }, 'Invalid field: port: must be an integer from 1 to 65535'],
    // order: the first bad field in file_name, file_hash, file_size, chunk_size, chunks, ip, port wins
    ['a bad name and a bad port', { file_name: '', port: 0 }, 'Invalid field: file_name: must not be empty'],
    ['a bad chunk_size and bad chunks', { chunk_size: 7, chunks: 'x' }, 'Invalid field: chunk_size: must be 1024 or 1048576'],
    ['bad chunks and a bad ip', { chunks: [5], ip: 'x' }, 'Invalid field: chunks: chunk id 5 is out of range (the file has 1 chunk of 1024 bytes)']
  ]
  for (const [what, overrides, error] of cases) {
    test(`${what}: 400 "${error}"`, async () => {
      await expectError(register(reg(overrides)), 400, error)
      const files = await get('/files')
      assert.deepEqual(files.json, { files: [], total: 0 }, 'nothing is stored')
    })
  }

  test('a file_size past 2^53 in the JSON text (1e400 parses to Infinity) is refused', async () => {
    const text = JSON.stringify(reg()).replace('"file_size":18', '"file_size":1e400')
    await expectError(register(text), 400, 'Invalid field: file_size: must be an integer')
  })

  test('limits that are valid: 255-byte names, ports 1 and 65535, Unicode names, IPv6', async () => {
    await expectRegistered(reg({ file_name: 'x'.repeat(255) }), 'Peer registered successfully', 1)
    await expectRegistered(reg({ file_hash: HASH_B, file_name: `${'é'.repeat(127)}x`, port: 1 }), 'Peer registered successfully', 1)
    await expectRegistered(reg({ file_hash: HASH_C, file_name: 'Ünïcødé 文件 🎵.mp3', port: 65535, ip: '::1' }), 'Peer registered successfully', 1)
    const lookup = await get(`/lookup?file_name=${encodeURIComponent('Ünïcødé 文件 🎵.mp3')}`)
    assert.deepEqual(lookup.json, { file_hash: HASH_C, file_name: 'Ünïcødé 文件 🎵.mp3', file_size: 18, peers: [{ ip: '::1', port: 65535, chunks: [0] }] })
  })
})

describe('GET /lookup, /get_file/<name>', () => {
  test('exact name match only', async () => {
    await register(reg())
    await expectError(get('/lookup?file_name=Testfile.txt'), 404, 'File not found')
    await expectError(get('/lookup?file_name=testfile'), 404, 'File not found')
    await expectError(get('/lookup?file_name=testfile.txt%20'), 404, 'File not found')
    assert.equal((await get('/lookup?file_name=testfile.txt')).status, 200)
  })

  test('two hashes under one name: the first registered wins', async () => {
    await register(reg({ file_name: 'same.txt', file_hash: HASH_B }))
    await register(reg({ file_name: 'same.txt', file_hash: HASH_A, port: 7000 }))
    const lookup = await get('/lookup?file_name=same.txt')
    assert.deepEqual(lookup.json, { file_hash: HASH_B, file_name: 'same.txt', file_size: 18, peers: [{ ip: '192.168.1.5', port: 6000, chunks: [0] }] })
  })

  test('missing or empty file_name: 400 "Missing file_name parameter"', async () => {
    await expectError(get('/lookup'), 400, 'Missing file_name parameter')
    await expectError(get('/lookup?file_name='), 400, 'Missing file_name parameter')
    await expectError(get('/lookup?other=x'), 400, 'Missing file_name parameter')
  })

  test('a repeated file_name: the first one counts, as Flask\'s request.args.get', async () => {
    await register(reg())
    assert.equal((await get('/lookup?file_name=testfile.txt&file_name=other')).status, 200)
    await expectError(get('/lookup?file_name=other&file_name=testfile.txt'), 404, 'File not found')
  })

  test('/get_file/<name> answers as /lookup', async () => {
    await register(reg({ file_name: 'my file (1).txt' }))
    const viaLookup = await get(`/lookup?file_name=${encodeURIComponent('my file (1).txt')}`)
    const viaGetFile = await get(`/get_file/${encodeURIComponent('my file (1).txt')}`)
    assert.equal(viaGetFile.status, 200)
    assert.equal(viaGetFile.raw, viaLookup.raw)
    // Python's requests encodes a space in a query as '+'.
    assert.equal((await get('/lookup?file_name=my+file+(1).txt')).raw, viaLookup.raw)
    await expectError(get('/get_file/nothing.txt'), 404, 'File not found')
  })

  test('/get_file/ takes names of the full 255 bytes, percent-encoded', async () => {
    const name = '文'.repeat(85) // 255 bytes of UTF-8, 765 characters encoded
    await register(reg({ file_name: name }))
    const r = await get(`/get_file/${encodeURIComponent(name)}`)
    assert.equal(r.status, 200, r.raw)
    assert.equal((r.json as Body).file_name, name)
  })

  test('a file with no peers left is still found, with an empty peer list', async () => {
    const t = await createTracker({ db: ':memory:', probeIntervalMs: 0, probe: async () => false, probeFailuresToPrune: 1 })
    try {
      await t.app.inject({ method: 'POST', url: '/register', payload: reg() })
      assert.equal((await t.pruneOnce()).pruned, 1)
      const r = await t.app.inject({ method: 'GET', url: '/lookup?file_name=testfile.txt' })
      assert.equal(r.statusCode, 200)
      assert.deepEqual(r.json(), { file_hash: HASH_A, file_name: 'testfile.txt', file_size: 18, peers: [] })
    } finally {
      await t.close()
    }
  })
})

describe('GET /lookup?file_hash= (extension)', () => {
  test('looks up by hash, either case', async () => {
    await register(reg({ file_name: 'same.txt', file_hash: HASH_B }))
    await register(reg({ file_name: 'same.txt', file_hash: HASH_A }))
    const r = await get(`/lookup?file_hash=${HASH_A.toUpperCase()}`)
    assert.deepEqual(r.json, { file_hash: HASH_A, file_name: 'same.txt', file_size: 18, peers: [{ ip: '192.168.1.5', port: 6000, chunks: [0] }] })
  })

  test('file_hash wins over file_name', async () => {
    await register(reg({ file_name: 'a.txt', file_hash: HASH_A }))
    await register(reg({ file_name: 'b.txt', file_hash: HASH_B }))
    const r = await get(`/lookup?file_name=a.txt&file_hash=${HASH_B}`)
    assert.equal((r.json as Body).file_name, 'b.txt')
    await expectError(get(`/lookup?file_name=a.txt&file_hash=${HASH_C}`), 404, 'File not found')
  })

  test('a malformed hash: 400; an unknown one: 404; an empty one counts as absent', async () => {
    const error = 'Invalid parameter: file_hash: must be 40 hexadecimal characters (a SHA-1)'
    await expectError(get(`/lookup?file_hash=${'a'.repeat(39)}`), 400, error)
    await expectError(get(`/lookup?file_hash=${'a'.repeat(41)}`), 400, error)
    await expectError(get(`/lookup?file_hash=${'z'.repeat(40)}`), 400, error)
    await expectError(get(`/lookup?file_hash=${HASH_C}`), 404, 'File not found')
    await expectError(get('/lookup?file_hash='), 400, 'Missing file_name parameter')
  })
})

describe('GET /files', () => {
  test('empty catalogue', async () => {
    const r = await get('/files')
    assert.equal(r.raw, '{"files":[],"total":0}\n')
  })

  test('in registration order, with peers_count, name and size of the first registration', async () => {
    await register(reg({ file_name: 'b.bin', file_hash: HASH_B, file_size: 2048, chunks: [0, 1] }))
    await register(reg({ file_name: 'a.bin', file_hash: HASH_A, file_size: 1 }))
    await register(reg({ file_name: 'c.bin', file_hash: HASH_C, file_size: 0, chunks: [] }))
    await register(reg({ file_name: 'ignored.bin', file_hash: HASH_B, file_size: 2048, chunks: [1], port: 6001 }))
    const r = await get('/files')
    assert.deepEqual(addedAtChecked(r.json), {
      files: [
        { completed: 0, file_hash: HASH_B, file_name: 'b.bin', file_size: 2048, peers_count: 2 },
        { completed: 0, file_hash: HASH_A, file_name: 'a.bin', file_size: 1, peers_count: 1 },
        { completed: 0, file_hash: HASH_C, file_name: 'c.bin', file_size: 0, peers_count: 1 }
      ],
      total: 3
    })
  })

  test('?q= filters by case-insensitive substring of the name (Unicode too); empty q lists all', async () => {
    await register(reg({ file_name: 'Holiday Photos.zip', file_hash: HASH_A }))
    await register(reg({ file_name: 'ÄPFEL_50%.txt', file_hash: HASH_B }))
    await register(reg({ file_name: 'notes.md', file_hash: HASH_C }))
    const names = async (url: string): Promise<string[]> =>
      ((await get(url)).json as { files: Body[] }).files.map((f) => f.file_name as string)
    assert.deepEqual(await names('/files?q=photo'), ['Holiday Photos.zip'])
    assert.deepEqual(await names('/files?q=HOLIDAY%20p'), ['Holiday Photos.zip'])
    assert.deepEqual(await names(`/files?q=${encodeURIComponent('äpfel')}`), ['ÄPFEL_50%.txt'])
    assert.deepEqual(await names('/files?q=50%25'), ['ÄPFEL_50%.txt'], '% is literal, not a wildcard')
    assert.deepEqual(await names('/files?q=_'), ['ÄPFEL_50%.txt'], '_ is literal, not a wildcard')
    assert.deepEqual(await names('/files?q=.'), ['Holiday Photos.zip', 'ÄPFEL_50%.txt', 'notes.md'])
    assert.deepEqual(await names('/files?q='), ['Holiday Photos.zip', 'ÄPFEL_50%.txt', 'notes.md'])
    assert.deepEqual(await names('/files?q=nothing'), [])
  })
})

describe('other routes and errors', () => {
  test('GET /healthz', async () => {
    const r = await get('/healthz')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { status: 'ok' })
  })

  test('unknown routes: 404 JSON', async () => {
    await expectError(get('/nope'), 404, 'Not found')
    await expectError(get('/files/'), 404, 'Not found')
    await expectError(get('/get_file'), 404, 'Not found')
    await expectError(request('POST', '/nope', {}), 404, 'Not found')
  })

  test('known routes with another method: 405 JSON with Allow', async () => {
    const cases: Array<['GET' | 'POST' | 'PUT' | 'DELETE', string, string]> = [
      ['GET', '/register', 'POST'],
      ['PUT', '/register', 'POST'],
      ['POST', '/files', 'GET, HEAD'],
      ['DELETE', '/lookup?file_name=x', 'GET, HEAD'],
      ['POST', '/get_file/x.txt', 'GET, HEAD']
    ]
    for (const [method, url, allow] of cases) {
      const r = await request(method, url, method === 'GET' ? undefined : {})
      assert.equal(r.status, 405, `${method} ${url}`)
      assert.deepEqual(r.json, { error: 'Method not allowed' })
      assert.equal(r.headers.allow, allow)
    }
  })

  test('a malformed URL: 400 JSON', async () => {
    await expectError(get('/get_file/%E0%A4%A'), 400, 'Bad request: malformed URL')
  })

  test('at capacity: 503 JSON, and a refused registration stores nothing', async () => {
    const t = await createTracker({ db: ':memory:', probeIntervalMs: 0, limits: { maxFiles: 2, maxPeersPerFile: 2, maxPeers: 3 } })
    try {
      const post = async (body: Body): Promise<{ status: number, json: unknown }> => {
        const r = await t.app.inject({ method: 'POST', url: '/register', payload: body })
        return { status: r.statusCode, json: r.json() }
      }
      assert.equal((await post(reg({ port: 1 }))).status, 200)
      assert.equal((await post(reg({ port: 2 }))).status, 200)
      assert.deepEqual(await post(reg({ port: 3 })), { status: 503, json: { error: 'Too many peers for this file (2)' } })
      assert.deepEqual(await post(reg({ port: 2, chunks: [] })), { status: 200, json: { file_hash: HASH_A, message: 'Peer updated successfully', peers_count: 2 } })
      assert.equal((await post(reg({ file_hash: HASH_B, port: 1 }))).status, 200)
      assert.deepEqual(await post(reg({ file_hash: HASH_C, port: 1 })), { status: 503, json: { error: 'Tracker catalogue is full (2 files)' } })
      assert.deepEqual(await post(reg({ file_hash: HASH_B, port: 2 })), { status: 503, json: { error: 'Tracker peer list is full (3 peers)' } })
      const files = await t.app.inject({ method: 'GET', url: '/files' })
      assert.deepEqual(addedAtChecked(files.json()), {
        files: [
          { completed: 0, file_hash: HASH_A, file_name: 'testfile.txt', file_size: 18, peers_count: 2 },
          { completed: 0, file_hash: HASH_B, file_name: 'testfile.txt', file_size: 18, peers_count: 1 }
        ],
        total: 2
      })
    } finally {
      await t.close()
    }
    // A new file refused at the peer limit is not half-written: the file row goes with the failed transaction.
    const one = await createTracker({ db: ':memory:', probeIntervalMs: 0, limits: { maxPeers: 1 } })
    try {
      assert.equal((await one.app.inject({ method: 'POST', url: '/register', payload: reg() })).statusCode, 200)
      const refused = await one.app.inject({ method: 'POST', url: '/register', payload: reg({ file_hash: HASH_B, file_name: 'other.txt' }) })
      assert.equal(refused.statusCode, 503)
      assert.deepEqual(refused.json(), { error: 'Tracker peer list is full (1 peers)' })
      assert.equal((await one.app.inject({ method: 'GET', url: '/files' })).json().files.length, 1)
      assert.equal((await one.app.inject({ method: 'GET', url: '/lookup?file_name=other.txt' })).statusCode, 404)
    } finally {
      await one.close()
    }
  })

  test('a lookup lists at most TRACKER_LOOKUP_MAX_PEERS peers, the first registered; peers_count counts all', async () => {
    const total = trackerLimits.TRACKER_LOOKUP_MAX_PEERS + 5
    for (let i = 0; i < total; i++) await register(reg({ port: 10_000 + i }))
    const lookup = await get('/lookup?file_name=testfile.txt')
    const ports = ((lookup.json as { peers: Body[] }).peers).map((p) => p.port)
    assert.deepEqual(ports, Array.from({ length: trackerLimits.TRACKER_LOOKUP_MAX_PEERS }, (_, i) => 10_000 + i))
    const files = await get('/files')
    assert.equal(((files.json as { files: Body[] }).files[0] as Body).peers_count, total)
  })
})

test('trackerBanner: server.py\'s startup lines with our URL', () => {
  assert.equal(trackerBanner('http://127.0.0.1:5000'), [
    'Tracker server running on http://127.0.0.1:5000',
    'Endpoints:',
    '   POST   /register - Register a peer',
    '   GET    /lookup?file_name=<n> - Find peers for a file',
    '   GET    /files - List all tracked files'
  ].join('\n'))
  assert.match(trackerBanner('http://[::1]:8080'), /^Tracker server running on http:\/\/\[::1\]:8080\n/)
})
