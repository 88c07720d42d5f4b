import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  bdecode, bencode, createMetainfo, encodeInfo, encodeMetainfo, isPieceLength, MAX_INFO_FILES, MAX_TOTAL_SIZE, parseInfoDict,
  parseMetainfo, parsePieceLength, pieceLengthFor, type BEncodable
} from '../../src/content/index.js'
import { P2PError } from '../../src/errors.js'
import { tempDir } from '../helpers/files.js'

const KIB = 1024
const MIB = 1024 * 1024
const GIB = 1024 * MIB
const CREATED_BY = 'p2pshare/0.1.0'
const ANNOUNCE = 'http://127.0.0.1:5000/announce'

const sha1 = (data: string | Uint8Array): Buffer => createHash('sha1').update(data).digest()
const hex = (data: string | Uint8Array): string => createHash('sha1').update(data).digest('hex')

function rejects (fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof P2PError, String(err))
    assert.equal(err.code, code, err.message)
    assert.match(err.message, pattern)
    return true
  })
}

/** A valid single-file info dictionary (100 bytes in one 16 KiB piece), with fields replaced or removed. */
function info (over: Record<string, BEncodable | undefined> = {}, remove: string[] = []): Buffer {
  const fields: Record<string, BEncodable | undefined> = { name: 'a.bin', 'piece length': 16 * KIB, pieces: Buffer.alloc(20, 1), length: 100, ...over }
  for (const k of remove) delete fields[k]
  return bencode(fields)
}

function multi (files: Array<{ path: BEncodable, length: BEncodable, attr?: string }>, pieces?: number, over: Record<string, BEncodable | undefined> = {}): Buffer {
  const total = files.reduce((s, f) => s + (typeof f.length === 'number' ? f.length : 0), 0)
  return info({ length: undefined, files, pieces: Buffer.alloc(20 * (pieces ?? Math.ceil(total / (16 * KIB))), 2), ...over })
}

// ---- piece length ----

test('piece length: libtorrent 2.x\'s rule, the same values libtorrent 2.0.8 chooses', () => {
  // Recorded from python3-libtorrent 2.0.8: lt.create_torrent(fs).piece_length() for a file of each size.
  const table: Array<[number, number]> = [
    [0, 16 * KIB], [1, 16 * KIB], [2684355, 16 * KIB], [2684356, 32 * KIB], [10737418, 32 * KIB], [10737419, 64 * KIB],
    [100 * MIB, 128 * KIB], [GIB, 512 * KIB], [10 * GIB, MIB], [100 * GIB, 4 * MIB],
    [703687441777, 8 * MIB], [703687441778, 16 * MIB], [1024 * GIB, 16 * MIB], [MAX_TOTAL_SIZE, 16 * MIB]
  ]
  for (const [size, expected] of table) assert.equal(pieceLengthFor(size), expected, `${size} bytes`)
  for (let size = 1; size < 2 ** 45; size = Math.ceil(size * 1.37)) {
    const p = pieceLengthFor(size)
    assert.ok(isPieceLength(p), `${p} for ${size}`)
    assert.ok(pieceLengthFor(size + 1) >= p, 'never smaller for more bytes')
  }
})

test('piece length: bounds and the user\'s spelling', () => {
  for (const ok of [16 * KIB, 32 * KIB, MIB, 16 * MIB]) assert.ok(isPieceLength(ok), String(ok))
  for (const bad of [0, -16384, 8 * KIB, 16 * KIB + 1, 24 * KIB, 32 * MIB, 1.5, Number.NaN]) assert.equal(isPieceLength(bad), false, String(bad))
  assert.ok(isPieceLength(64 * MIB, 16 * KIB, 64 * MIB))
  assert.equal(parsePieceLength('262144'), 262144)
  assert.equal(parsePieceLength('256K'), 256 * KIB)
  assert.equal(parsePieceLength('256kib'), 256 * KIB)
  assert.equal(parsePieceLength(' 1M '), MIB)
  assert.equal(parsePieceLength('4MiB'), 4 * MIB)
  for (const bad of ['', 'K', '1.5M', '-1', '1G', '1 2', '0x100']) assert.equal(parsePieceLength(bad), undefined, bad)
})

// ---- creating ----

test('golden vector: a one-file torrent is exactly these bytes', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'hello.txt'), 'hello\n')
  const created = await createMetainfo({ path: join(dir, 'hello.txt'), trackers: [ANNOUNCE], createdBy: CREATED_BY, creationDate: 1700000000 })
  const infoBytes = Buffer.concat([Buffer.from('d6:lengthi6e4:name9:hello.txt12:piece lengthi16384e6:pieces20:'), sha1('hello\n'), Buffer.from('e')])
  const expected = Buffer.concat([
    Buffer.from('d8:announce30:http://127.0.0.1:5000/announce10:created by14:p2pshare/0.1.013:creation datei1700000000e4:info'),
    infoBytes,
    Buffer.from('e')
  ])
  assert.equal(created.torrent.toString('latin1'), expected.toString('latin1'))
  assert.equal(created.infoHash, hex(infoBytes))
  assert.deepEqual(created.info.raw, infoBytes)
  assert.equal(created.files[0]?.sha1, hex('hello\n'), 'the whole-file SHA-1 comes out of the same pass')
})

test('golden vector: several trackers (BEP 12 tiers), a comment, private (BEP 27)', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'hello.txt'), 'hello\n')
  const created = await createMetainfo({
    path: join(dir, 'hello.txt'), trackers: ['http://a/announce', 'udp://b:1'], private: true, comment: 'hi', createdBy: CREATED_BY, creationDate: 1
  })
  const infoBytes = Buffer.concat([Buffer.from('d6:lengthi6e4:name9:hello.txt12:piece lengthi16384e6:pieces20:'), sha1('hello\n'), Buffer.from('7:privatei1ee')])
  const expected = Buffer.concat([
    Buffer.from('d8:announce17:http://a/announce13:announce-listll17:http://a/announceel9:udp://b:1ee7:comment2:hi10:created by14:p2pshare/0.1.013:creation datei1e4:info'),
    infoBytes,
    Buffer.from('e')
  ])
  assert.equal(created.torrent.toString('latin1'), expected.toString('latin1'))
  assert.equal(created.info.private, true)
})

test('golden vector: a folder is a multi-file torrent in path order, pieces across files', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'd', 'b'), { recursive: true })
  mkdirSync(join(dir, 'd', 'empty-folder'))
  writeFileSync(join(dir, 'd', 'a'), 'x')
  writeFileSync(join(dir, 'd', 'b', 'c'), 'yz')
  writeFileSync(join(dir, 'd', 'b-'), '')
  const created = await createMetainfo({ path: join(dir, 'd'), trackers: [], createdBy: CREATED_BY, creationDate: 2 })
  // Component by component: "b" (and what is inside it) before "b-"; the empty folder leaves no trace; no trackers, no announce.
  const infoBytes = Buffer.concat([
    Buffer.from('d5:filesld6:lengthi1e4:pathl1:aeed6:lengthi2e4:pathl1:b1:ceed6:lengthi0e4:pathl2:b-eee4:name1:d12:piece lengthi16384e6:pieces20:'),
    sha1('xyz'),
    Buffer.from('e')
  ])
  assert.equal(created.torrent.toString('latin1'), Buffer.concat([Buffer.from('d10:created by14:p2pshare/0.1.013:creation datei2e4:info'), infoBytes, Buffer.from('e')]).toString('latin1'))
  assert.deepEqual(created.info.files.map(f => [f.path, f.length, f.offset]), [['d/a', 1, 0], ['d/b/c', 2, 1], ['d/b-', 0, 3]])
  assert.equal(created.info.multiFile, true)
})

test('the info hash depends on the content only: not on time, trackers or comment', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'folder', 'sub'), { recursive: true })
  writeFileSync(join(dir, 'folder', '.hidden'), 'kept')
  writeFileSync(join(dir, 'folder', 'sub', 'x.bin'), Buffer.alloc(40 * KIB, 3))
  const first = await createMetainfo({ path: join(dir, 'folder'), trackers: [ANNOUNCE], createdBy: CREATED_BY })
  const second = await createMetainfo({ path: join(dir, 'folder'), trackers: ['http://other/announce', 'udp://x:1'], comment: 'c', createdBy: 'other', creationDate: 5 })
  assert.equal(first.infoHash, second.infoHash)
  assert.notDeepEqual(first.torrent, second.torrent)
  assert.deepEqual(first.info.files.map(f => f.path), ['folder/.hidden', 'folder/sub/x.bin'], 'hidden files are not skipped')
  const priv = await createMetainfo({ path: join(dir, 'folder'), trackers: [], private: true, createdBy: CREATED_BY })
  assert.notEqual(priv.infoHash, first.infoHash, 'private is inside info')
  const other = await createMetainfo({ path: join(dir, 'folder'), trackers: [], pieceLength: 32 * KIB, createdBy: CREATED_BY })
  assert.notEqual(other.infoHash, first.infoHash)
  assert.equal(other.info.pieceLength, 32 * KIB)
})

test('creating refuses what it cannot describe: nothing, empty content, links inside a folder, bad names', async (t) => {
  const dir = tempDir(t)
  const make = async (path: string, pieceLength?: number): Promise<unknown> =>
    await createMetainfo({ path, trackers: [], createdBy: CREATED_BY, ...(pieceLength === undefined ? {} : { pieceLength }) })
  const fails = async (path: string, code: string, pattern: RegExp, pieceLength?: number): Promise<void> => {
    await assert.rejects(make(path, pieceLength), (err: unknown) => err instanceof P2PError && err.code === code && pattern.test(err.message))
  }
  await fails(join(dir, 'missing'), 'ERR_INPUT', /no such file or folder/)
  writeFileSync(join(dir, 'empty'), '')
  await fails(join(dir, 'empty'), 'ERR_INPUT', /Nothing to put in a torrent: .* is empty/)
  mkdirSync(join(dir, 'nothing', 'inside'), { recursive: true })
  await fails(join(dir, 'nothing'), 'ERR_INPUT', /contains no files/)
  mkdirSync(join(dir, 'zeros'))
  writeFileSync(join(dir, 'zeros', 'z'), '')
  await fails(join(dir, 'zeros'), 'ERR_INPUT', /holds only empty files/)
  mkdirSync(join(dir, 'linked'))
  writeFileSync(join(dir, 'linked', 'real'), 'x')
  symlinkSync('/etc/hostname', join(dir, 'linked', 'link'))
  await fails(join(dir, 'linked'), 'ERR_INPUT', /linked\/link is a symbolic link/)
  mkdirSync(join(dir, 'windows'))
  writeFileSync(join(dir, 'windows', 'CON.txt'), 'x')
  await fails(join(dir, 'windows'), 'ERR_INPUT', /Cannot put .*CON\.txt in a torrent: "CON\.txt" is a Windows device name/)
  writeFileSync(join(dir, 'ok'), 'x')
  await fails(join(dir, 'ok'), 'ERR_VALIDATION', /not a power of two/, 3000)
  // The path given may itself be a link: it is what the user named.
  symlinkSync(join(dir, 'ok'), join(dir, 'ok-link'))
  assert.equal(((await make(join(dir, 'ok-link'))) as { info: { name: string } }).info.name, 'ok-link')
})

// ---- parsing ----

test('parseMetainfo: round trip of what createMetainfo writes', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'album', 'disc 1'), { recursive: true })
  writeFileSync(join(dir, 'album', 'disc 1', '01 — intro.flac'), Buffer.alloc(20 * KIB, 1))
  writeFileSync(join(dir, 'album', 'cover.jpg'), Buffer.alloc(5, 2))
  const created = await createMetainfo({ path: join(dir, 'album'), trackers: ['http://t1/announce', 'http://t2/announce'], comment: 'ça va', createdBy: CREATED_BY, creationDate: 1234 })
  const m = parseMetainfo(created.torrent)
  assert.equal(m.infoHash, created.infoHash)
  assert.deepEqual(m.trackers, ['http://t1/announce', 'http://t2/announce'])
  assert.deepEqual(m.announceList, [['http://t1/announce'], ['http://t2/announce']])
  assert.equal(m.announce, 'http://t1/announce')
  assert.equal(m.comment, 'ça va')
  assert.equal(m.createdBy, CREATED_BY)
  assert.equal(m.creationDate, 1234)
  assert.equal(m.info.name, 'album')
  assert.equal(m.info.totalSize, 20 * KIB + 5)
  assert.equal(m.info.pieceCount, 2)
  assert.equal(m.info.private, false)
  assert.equal(m.info.hybrid, false)
  assert.deepEqual(m.info.files.map(f => ({ path: f.path, length: f.length, offset: f.offset, padding: f.padding })), [
    { path: 'album/cover.jpg', length: 5, offset: 0, padding: false },
    { path: 'album/disc 1/01 — intro.flac', length: 20 * KIB, offset: 5, padding: false }
  ])
})

test('unknown keys keep their hash: the SHA-1 of the exact bytes, never of a re-encoding', () => {
  // A hybrid v1+v2 info dictionary as libtorrent 2 writes it, plus a key nobody knows, keys not even sorted.
  const raw = Buffer.concat([
    Buffer.from('d4:name5:a.bin12:piece lengthi16384e6:lengthi100e6:pieces20:'), Buffer.alloc(20, 9),
    Buffer.from('12:meta versioni2e9:file treed5:a.bind0:d6:lengthi100e11:pieces root32:'), Buffer.alloc(32, 4), Buffer.from('eee'),
    Buffer.from('7:x-extrali1ei2ee6:sourcei0ee')
  ])
  const parsed = parseInfoDict(raw)
  assert.equal(parsed.infoHash, hex(raw))
  assert.notEqual(parsed.infoHash, hex(bencode(bdecode(raw).value)), 'a re-encoding (sorted keys) would give another hash')
  assert.equal(parsed.hybrid, true)
  assert.deepEqual(parsed.raw, raw)
  // The same bytes inside a .torrent with outer keys we do not know (v2 piece layers) keep the same hash.
  const m = parseMetainfo(Buffer.concat([Buffer.from('d8:announce3:url4:info'), raw, Buffer.from('12:piece layersdee')]))
  assert.equal(m.infoHash, hex(raw))
  // And encodeMetainfo embeds them untouched.
  assert.equal(parseMetainfo(encodeMetainfo({ info: raw, trackers: ['u'] })).infoHash, hex(raw))
})

test('BEP 47 padding files are tolerated and marked; they may share a path', () => {
  const raw = multi([
    { path: ['a.bin'], length: 100 },
    { path: ['.pad', '16284'], length: 16284, attr: 'p' },
    { path: ['b.bin'], length: 16384, attr: 'x' },
    { path: ['.pad', '16284'], length: 16284, attr: 'hp' },
    { path: ['c.bin'], length: 1 }
  ])
  const parsed = parseInfoDict(raw)
  assert.deepEqual(parsed.files.map(f => [f.path, f.padding, f.attr]), [
    ['a.bin/a.bin', false, ''], ['a.bin/.pad/16284', true, 'p'], ['a.bin/b.bin', false, 'x'], ['a.bin/.pad/16284', true, 'hp'], ['a.bin/c.bin', false, '']
  ])
  assert.deepEqual(parsed.files.map(f => f.offset), [0, 100, 16384, 32768, 49052])
})

test('parseInfoDict keeps its own copy: the caller may reuse its buffer', () => {
  const raw = info()
  const parsed = parseInfoDict(raw)
  const hash = parsed.infoHash
  raw.fill(0)
  assert.equal(parsed.name, 'a.bin')
  assert.deepEqual(parsed.pieces, Buffer.alloc(20, 1))
  assert.equal(hex(parsed.raw), hash)
})

test('outer fields are advisory: ill-typed ones are ignored, announce-list wins over announce (BEP 12)', () => {
  const i = info()
  const wrap = (outer: string): Buffer => Buffer.concat([Buffer.from(`d${outer}4:info`), i, Buffer.from('e')])
  let m = parseMetainfo(wrap('8:announce1:a13:announce-listll1:b1:cel1:dei5el0:ee7:commenti1e13:creation date3:now'))
  assert.deepEqual(m.trackers, ['b', 'c', 'd'])
  assert.equal(m.announce, 'a')
  assert.equal(m.comment, undefined)
  assert.equal(m.creationDate, undefined)
  m = parseMetainfo(wrap('8:announce1:a13:announce-listi1e'))
  assert.deepEqual(m.trackers, ['a'])
  m = parseMetainfo(wrap(''))
  assert.deepEqual(m.trackers, [])
  assert.deepEqual(m.announceList, [])
})

test('parseMetainfo refuses what is not a torrent', () => {
  rejects(() => parseMetainfo(Buffer.from('')), 'ERR_BENCODE', /truncated/)
  rejects(() => parseMetainfo(Buffer.from('hello world')), 'ERR_BENCODE', /bad string length/)
  rejects(() => parseMetainfo(Buffer.from('le')), 'ERR_METAINFO', /not a dictionary/)
  rejects(() => parseMetainfo(Buffer.from('d8:announce1:ae')), 'ERR_METAINFO', /no "info" dictionary/)
  rejects(() => parseMetainfo(Buffer.from('d4:infoi1ee')), 'ERR_METAINFO', /no "info" dictionary/)
  rejects(() => parseMetainfo(Buffer.concat([Buffer.from('d4:info'), info(), Buffer.from('ee')])), 'ERR_BENCODE', /after the value/)
  rejects(() => parseMetainfo(Buffer.alloc(32 * MIB + 1)), 'ERR_METAINFO', /larger than/)
  rejects(() => parseInfoDict(Buffer.from('le')), 'ERR_METAINFO', /info is not a dictionary/)
})

test('parseInfoDict refuses missing and ill-typed fields', () => {
  for (const key of ['name', 'piece length', 'pieces']) rejects(() => parseInfoDict(info({}, [key])), 'ERR_METAINFO', new RegExp(`missing "${key}"`))
  rejects(() => parseInfoDict(info({}, ['length'])), 'ERR_METAINFO', /missing "length"/)
  rejects(() => parseInfoDict(info({ name: 5 })), 'ERR_METAINFO', /"name" is not a string/)
  rejects(() => parseInfoDict(info({ 'piece length': '16384' })), 'ERR_METAINFO', /"piece length" is not an integer/)
  rejects(() => parseInfoDict(info({ pieces: [] })), 'ERR_METAINFO', /"pieces" is not a string/)
  rejects(() => parseInfoDict(info({ length: '100' })), 'ERR_METAINFO', /"length" is not an integer/)
  rejects(() => parseInfoDict(info({ private: '1' })), 'ERR_METAINFO', /"private" is not an integer/)
  rejects(() => parseInfoDict(info({ files: [{ path: ['x'], length: 1 }] })), 'ERR_METAINFO', /both "length" and "files"/)
  rejects(() => parseInfoDict(multi([], 0)), 'ERR_METAINFO', /"files" is empty/)
  rejects(() => parseInfoDict(info({ length: undefined, files: 'x' })), 'ERR_METAINFO', /"files" is not a list/)
  rejects(() => parseInfoDict(info({ length: undefined, files: [1] })), 'ERR_METAINFO', /files\[0\] is not a dictionary/)
  rejects(() => parseInfoDict(multi([{ path: ['x'], length: '1' }], 1)), 'ERR_METAINFO', /"files\[0\]\.length" is not an integer/)
  rejects(() => parseInfoDict(info({ length: undefined, files: [{ length: 1 }] })), 'ERR_METAINFO', /missing "files\[0\]\.path"/)
  rejects(() => parseInfoDict(multi([{ path: 'x', length: 1 }], 1)), 'ERR_METAINFO', /"files\[0\]\.path" is not a list/)
  rejects(() => parseInfoDict(multi([{ path: [], length: 1 }], 1)), 'ERR_METAINFO', /files\[0\]\.path is empty/)
  rejects(() => parseInfoDict(multi([{ path: ['a', 1], length: 1 }], 1)), 'ERR_METAINFO', /files\[0\]\.path\[1\] is not a string/)
})

test('parseInfoDict refuses inconsistent sizes and pieces', () => {
  rejects(() => parseInfoDict(info({ pieces: Buffer.alloc(19) })), 'ERR_METAINFO', /19 bytes, not a multiple of 20/)
  rejects(() => parseInfoDict(info({ pieces: Buffer.alloc(40) })), 'ERR_METAINFO', /2 piece hashes for 100 bytes in pieces of 16384 \(expected 1\)/)
  rejects(() => parseInfoDict(info({ pieces: Buffer.alloc(0) })), 'ERR_METAINFO', /0 piece hashes for 100 bytes/)
  rejects(() => parseInfoDict(info({ length: 16 * KIB + 1 })), 'ERR_METAINFO', /expected 2/)
  rejects(() => parseInfoDict(info({ length: -1 })), 'ERR_METAINFO', /length is negative/)
  rejects(() => parseInfoDict(multi([{ path: ['a'], length: 5 }, { path: ['b'], length: -5 }], 1)), 'ERR_METAINFO', /files\[1\]\.length is negative/)
  rejects(() => parseInfoDict(info({ length: 0, pieces: Buffer.alloc(0) })), 'ERR_METAINFO', /no content \(total size 0\)/)
  rejects(() => parseInfoDict(multi([{ path: ['a'], length: 0 }], 0)), 'ERR_METAINFO', /no content/)
  rejects(() => parseInfoDict(info({ length: MAX_TOTAL_SIZE + 1 })), 'ERR_METAINFO', /length is larger than/)
  rejects(() => parseInfoDict(multi([{ path: ['a'], length: MAX_TOTAL_SIZE }, { path: ['b'], length: 1 }], 1)), 'ERR_METAINFO', /content larger than/)
  for (const bad of [0, -16384, 1000, 16 * KIB + 1, 8 * KIB, 128 * MIB, 3 * 16 * KIB]) {
    rejects(() => parseInfoDict(info({ 'piece length': bad })), 'ERR_METAINFO', /is not a power of two from 16 KiB to 64 MiB/)
  }
  // Others' torrents may use up to 64 MiB pieces (we create at most 16 MiB).
  assert.equal(parseInfoDict(info({ 'piece length': 64 * MIB })).pieceLength, 64 * MIB)
})

test('parseInfoDict refuses BitTorrent v2-only torrents with a clear reason', () => {
  rejects(() => parseInfoDict(info({ 'meta version': 2, 'file tree': {} }, ['pieces'])), 'ERR_METAINFO', /v2-only torrent/)
})

test(`parseInfoDict refuses more than ${MAX_INFO_FILES} files`, () => {
  const entries = Array.from({ length: MAX_INFO_FILES + 1 }, (_, i) => `d6:lengthi1e4:pathl${String(i).length + 1}:f${i}ee`).join('')
  const raw = Buffer.concat([Buffer.from(`d5:filesl${entries}e4:name1:d12:piece lengthi16384e6:pieces${20 * 7}:`), Buffer.alloc(140), Buffer.from('e')])
  rejects(() => parseInfoDict(raw), 'ERR_METAINFO', /100001 files, more than 100000/)
})

test('parseInfoDict refuses every path trick, in the name and in file paths', () => {
  const tricks: Array<[string[], string]> = [
    [['..'], 'ERR_PATH_TRAVERSAL'], [['a', '..', '..', 'b'], 'ERR_PATH_TRAVERSAL'], [['.'], 'ERR_PATH_DOT'], [['...'], 'ERR_PATH_DOT'],
    [[''], 'ERR_PATH_EMPTY'], [['a', ''], 'ERR_PATH_EMPTY'], [['/etc'], 'ERR_PATH_SEPARATOR'], [['a/b'], 'ERR_PATH_SEPARATOR'],
    [['a\\b'], 'ERR_PATH_SEPARATOR'], [['a\0'], 'ERR_PATH_NUL'], [['C:'], 'ERR_PATH_DRIVE'], [['c:evil'], 'ERR_PATH_DRIVE'],
    [['CON'], 'ERR_PATH_RESERVED'], [['nul.txt'], 'ERR_PATH_RESERVED'], [['com1'], 'ERR_PATH_RESERVED'], [['LPT9.doc'], 'ERR_PATH_RESERVED']
  ]
  for (const [path, code] of tricks) {
    rejects(() => parseInfoDict(multi([{ path, length: 1 }], 1)), code, /Unsafe path in torrent/)
  }
  for (const [name, code] of [['..', 'ERR_PATH_TRAVERSAL'], ['', 'ERR_PATH_EMPTY'], ['/etc', 'ERR_PATH_ABSOLUTE'], ['a/b', 'ERR_PATH_SEPARATOR'], ['C:\\', 'ERR_PATH_SEPARATOR'], ['c:', 'ERR_PATH_DRIVE'], ['aux', 'ERR_PATH_RESERVED'], ['.', 'ERR_PATH_DOT']]) {
    rejects(() => parseInfoDict(info({ name })), code as string, /Unsafe path in torrent/)
  }
})

test('parseInfoDict refuses files that collide: the same path twice, a file that is also a folder', () => {
  rejects(() => parseInfoDict(multi([{ path: ['a'], length: 1 }, { path: ['a'], length: 1 }], 1)), 'ERR_METAINFO', /two files at "a.bin\/a"/)
  rejects(() => parseInfoDict(multi([{ path: ['a'], length: 1 }, { path: ['a', 'b'], length: 1 }], 1)), 'ERR_METAINFO', /"a.bin\/a" is both a file and a folder/)
  rejects(() => parseInfoDict(multi([{ path: ['a', 'b'], length: 1 }, { path: ['a'], length: 1 }], 1)), 'ERR_METAINFO', /"a.bin\/a" is both a file and a folder/)
  assert.equal(parseInfoDict(multi([{ path: ['a', 'b'], length: 1 }, { path: ['a', 'c'], length: 1 }, { path: ['ab'], length: 1 }], 1)).files.length, 3)
})

test('private: any non-zero value is private (BEP 27 writes 1), 0 is not, and it is inside the info hash', () => {
  assert.equal(parseInfoDict(info({ private: 1 })).private, true)
  assert.equal(parseInfoDict(info({ private: 0 })).private, false)
  assert.equal(parseInfoDict(info()).private, false)
  assert.notEqual(parseInfoDict(info({ private: 1 })).infoHash, parseInfoDict(info()).infoHash)
})

test('encodeInfo writes exactly BEP 3\'s keys, sorted', () => {
  const pieces = Buffer.alloc(20, 5)
  assert.equal(encodeInfo({ name: 'n', pieceLength: 16384, pieces, length: 3 }).toString('latin1'), `d6:lengthi3e4:name1:n12:piece lengthi16384e6:pieces20:${pieces.toString('latin1')}e`)
  assert.equal(
    encodeInfo({ name: 'n', pieceLength: 16384, pieces, files: [{ path: ['a', 'b'], length: 3 }], private: true }).toString('latin1'),
    `d5:filesld6:lengthi3e4:pathl1:a1:beee4:name1:n12:piece lengthi16384e6:pieces20:${pieces.toString('latin1')}7:privatei1ee`)
  assert.throws(() => encodeInfo({ name: 'n', pieceLength: 16384, pieces }), TypeError)
})
