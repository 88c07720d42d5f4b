import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { bdecode, bencode, bget, isBDict, BENCODE_MAX_DEPTH, type BDict, type BValue } from '../../src/content/index.js'
import { P2PError } from '../../src/errors.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

function decodeFails (input: Buffer | string, pattern: RegExp): void {
  const data = typeof input === 'string' ? b(input) : input
  assert.throws(() => bdecode(data), (err: unknown) => {
    assert.ok(err instanceof P2PError, `a P2PError for ${JSON.stringify(data.toString('latin1').slice(0, 40))}`)
    assert.equal(err.code, 'ERR_BENCODE')
    assert.match(err.message, pattern)
    return true
  })
}

/** A decoded value with byte strings turned into latin1 text, for deepEqual. */
function plain (v: BValue): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1')
  if (Array.isArray(v)) return v.map(plain)
  if (typeof v === 'number') return v
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
}

test('bencode: integers, strings, lists and dictionaries round-trip', () => {
  const cases: Array<[unknown, string]> = [
    [0, 'i0e'],
    [-1, 'i-1e'],
    [42, 'i42e'],
    [Number.MAX_SAFE_INTEGER, `i${Number.MAX_SAFE_INTEGER}e`],
    [Number.MIN_SAFE_INTEGER, `i${Number.MIN_SAFE_INTEGER}e`],
    ['', '0:'],
    ['spam', '4:spam'],
    [[], 'le'],
    [['spam', 42, [[]]], 'l4:spami42elleee'],
    [{}, 'de'],
    [{ spam: ['a', 'b'], cow: 'moo' }, 'd3:cow3:moo4:spaml1:a1:bee']
  ]
  for (const [value, encoded] of cases) {
    assert.equal(bencode(value as never).toString('latin1'), encoded)
    const decoded = bdecode(b(encoded))
    assert.equal(decoded.length, encoded.length)
    assert.deepEqual(plain(decoded.value), value)
  }
})

test('bencode: byte strings stay bytes, text is UTF-8, binary survives', () => {
  const binary = Buffer.from([0, 255, 1, 0x65, 0x3a, 0x64])
  const encoded = bencode({ bin: binary, text: 'héllo ✓' })
  const value = bdecode(encoded).value as BDict
  assert.deepEqual(Buffer.from(bget.bytes(value, 'bin') ?? []), binary)
  assert.equal(bget.string(value, 'text'), 'héllo ✓')
  assert.equal(bencode({ text: 'héllo ✓' }).toString('utf8'), `d4:text${Buffer.byteLength('héllo ✓')}:héllo ✓e`)
  assert.deepEqual(bencode(bdecode(encoded).value), encoded, 'decode then encode gives the same bytes')
})

test('bencode: keys are written sorted as raw bytes (BEP 3), undefined entries are skipped', () => {
  assert.equal(bencode({ b: 1, a: 2, B: 3, 'a b': 4, é: 5, z: undefined }).toString('utf8'), 'd1:Bi3e1:ai2e3:a bi4e1:bi1e2:éi5ee')
  // Sorted by UTF-8 bytes, not by UTF-16 code units: U+FF5E (ef bd 9e) before U+1F600 (f0 9f 98 80), though JS sorts the other way.
  assert.equal(bencode({ '😀': 1, '～': 2 }).toString('utf8'), 'd3:～i2e4:😀i1ee')
})

test('bencode: refuses to encode what it cannot represent exactly', () => {
  for (const bad of [1.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
    assert.throws(() => bencode(bad), TypeError)
    assert.throws(() => bencode({ a: [bad] }), TypeError)
  }
})

test('bdecode: unsorted keys are read (some encoders do not sort)', () => {
  assert.deepEqual(plain(bdecode(b('d1:bi1e1:ai2ee')).value), { b: 1, a: 2 })
})

test('bdecode: every malformed input is a ProtocolError ERR_BENCODE with the reason', () => {
  decodeFails('', /truncated/)
  decodeFails('i12', /unterminated integer/)
  for (const bad of ['i-0e', 'i03e', 'ie', 'i1.5e', 'i+1e', 'i 1e', 'i1 e', 'i-e', 'i0x1e']) decodeFails(bad, /bad integer/)
  decodeFails(`i${Number.MAX_SAFE_INTEGER + 2}e`, /integer out of range/)
  decodeFails('i99999999999999999999999e', /integer out of range/)
  decodeFails('l', /unterminated list/)
  decodeFails('li1e', /unterminated list/)
  decodeFails('d', /unterminated dictionary/)
  decodeFails('d1:ai1e', /unterminated dictionary/)
  decodeFails('di1ei2ee', /dictionary key is not a string/)
  decodeFails('dlei1ee', /dictionary key is not a string/)
  decodeFails('ddei1ee', /dictionary key is not a string/)
  decodeFails('d1:ai1e1:ai2ee', /repeated dictionary key "a"/)
  decodeFails('d1:a', /truncated/)
  decodeFails('x', /bad string length/)
  decodeFails('4spam', /bad string length/)
  decodeFails('-1:a', /bad string length/)
  decodeFails('01:a', /bad string length/)
  decodeFails(':a', /bad string length/)
  decodeFails('12345678901234567:a', /bad string length/)
  decodeFails('5:abc', /string runs past the end/)
  decodeFails('i1ei2e', /3 bytes after the value/)
  decodeFails('4:spamX', /1 bytes after the value/)
})

test('bdecode: trailing bytes are allowed when not strict, and the length says where the value ended', () => {
  const decoded = bdecode(b('i1ei2e'), { strict: false })
  assert.equal(decoded.value, 1)
  assert.equal(decoded.length, 3)
})

test('bdecode: split at every offset, every proper prefix fails and the whole succeeds', () => {
  const samples = [
    bencode({ announce: 'http://t/announce', info: { name: 'a.txt', 'piece length': 16384, pieces: Buffer.alloc(20, 7), length: 5 } }),
    bencode([0, -12, 'x', [], {}, { k: [1, [2, [3]]] }]),
    b('i-1234567890e'),
    b('10:0123456789')
  ]
  for (const whole of samples) {
    assert.doesNotThrow(() => bdecode(whole))
    for (let cut = 0; cut < whole.length; cut++) {
      assert.throws(() => bdecode(whole.subarray(0, cut)), (err: unknown) => err instanceof P2PError && err.code === 'ERR_BENCODE', `prefix of ${cut} of ${whole.length} bytes`)
    }
  }
})

test('bdecode: a hostile __proto__ key is an ordinary key and pollutes nothing', () => {
  const decoded = bdecode(b('d9:__proto__d5:admini1ee11:constructori1e9:prototypei2ee')).value as BDict
  assert.equal(Object.getPrototypeOf(decoded), null, 'dictionaries have no prototype')
  assert.ok(Object.hasOwn(decoded, '__proto__'))
  assert.deepEqual(plain(bget.dict(decoded, '__proto__') as BDict), { admin: 1 })
  assert.equal(bget.int(decoded, 'constructor'), 1)
  assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched')
  assert.equal((decoded as Record<string, unknown>).admin, undefined)
  assert.equal(bencode(decoded).toString('latin1'), 'd9:__proto__d5:admini1ee11:constructori1e9:prototypei2ee', 'and it encodes back')
})

test(`bdecode: nesting is bounded (${BENCODE_MAX_DEPTH}), so hostile input cannot overflow the stack`, () => {
  const nest = (n: number): Buffer => b('l'.repeat(n) + 'e'.repeat(n))
  assert.doesNotThrow(() => bdecode(nest(BENCODE_MAX_DEPTH + 1)), 'the top level plus 64 levels inside it')
  decodeFails(nest(BENCODE_MAX_DEPTH + 2), /nested deeper than 64/)
  decodeFails(nest(100_000), /nested deeper than 64/)
  decodeFails(b('d1:a'.repeat(1000) + 'i1e' + 'e'.repeat(1000)), /nested deeper than 64/)
})

test('bdecode: spanOf gives the exact bytes of a top-level key\'s value (the info hash is taken over them)', () => {
  // Keys unsorted and an unknown key inside info: the span is the bytes as written, not a re-encoding.
  const info = 'd4:name1:a3:zzzi1e6:lengthi1ee'
  const data = b(`d8:announce3:url4:info${info}7:comment4:infoe`)
  const { value, span } = bdecode(data, { spanOf: 'info' })
  assert.ok(span !== undefined)
  assert.equal(data.subarray(span[0], span[1]).toString('latin1'), info)
  assert.notEqual(bencode(bget.dict(value as BDict, 'info') as BDict).toString('latin1'), info, 're-encoding would sort the keys')
  assert.equal(createHash('sha1').update(data.subarray(span[0], span[1])).digest('hex'), createHash('sha1').update(info, 'latin1').digest('hex'))
  assert.equal(bdecode(b('d1:xd4:infoi1eee'), { spanOf: 'info' }).span, undefined, 'only top-level keys')
  assert.equal(bdecode(b('d1:xi1ee'), { spanOf: 'info' }).span, undefined, 'absent key, no span')
  assert.deepEqual(bdecode(b('d4:info0:e'), { spanOf: 'info' }).span, [7, 9])
})

test('bget: typed accessors return undefined for another type', () => {
  const d = bdecode(b('d1:bi1e1:dde1:ll1:xe1:s2:hie')).value as BDict
  assert.equal(bget.int(d, 'b'), 1)
  assert.equal(bget.int(d, 's'), undefined)
  assert.equal(bget.string(d, 's'), 'hi')
  assert.equal(bget.string(d, 'b'), undefined)
  assert.equal(bget.bytes(d, 'l'), undefined)
  assert.equal(bget.list(d, 'l')?.length, 1)
  assert.equal(bget.list(d, 'd'), undefined)
  assert.ok(isBDict(bget.dict(d, 'd')))
  assert.equal(bget.dict(d, 'l'), undefined)
  assert.equal(bget.dict(d, 'missing'), undefined)
  assert.equal(isBDict(undefined), false)
  assert.equal(isBDict([]), false)
  assert.equal(isBDict(new Uint8Array(1)), false)
})
