/**
 * `p2pshare create` and `p2pshare info` through the CLI, as separate processes; `share` naming the same info hash as
 * `create`; mktorrent (when installed) agreeing with us byte for byte on the info dictionary.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseMetainfo } from '../../src/content/index.js'
import { randomFile, tempDir } from '../helpers/files.js'
import { runCli, startSharer, startTracker } from '../helpers/process.js'

const MIB = 1024 * 1024

function field (stdout: string, name: string): string {
  return stdout.match(new RegExp(`^${name}: (.*)$`, 'm'))?.[1] ?? ''
}

test('create a torrent for a file, then info shows it (text and --json)', async (t) => {
  const dir = tempDir(t)
  await randomFile(dir, 'movie.bin', 3 * MIB + 5)
  const created = await runCli(['create', 'movie.bin', '--tracker', 'http://127.0.0.1:5000', '--comment', 'a test'], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const infoHash = field(created.stdout, 'Info hash')
  assert.match(infoHash, /^[0-9a-f]{40}$/)
  assert.match(created.stdout, /^Created: movie\.bin\.torrent$/m)
  assert.match(created.stdout, /^Pieces: 97 × 32\.0 KiB$/m, 'libtorrent\'s rule: 32 KiB for 3 MiB')
  assert.equal(field(created.stdout, 'Magnet'), `magnet:?xt=urn:btih:${infoHash}&dn=movie.bin&tr=http%3A%2F%2F127.0.0.1%3A5000%2Fannounce`)

  const torrent = parseMetainfo(readFileSync(join(dir, 'movie.bin.torrent')))
  assert.equal(torrent.infoHash, infoHash)
  assert.deepEqual(torrent.trackers, ['http://127.0.0.1:5000/announce'])
  assert.equal(torrent.createdBy, 'p2pshare/0.1.0')
  assert.ok(Math.abs((torrent.creationDate ?? 0) - Date.now() / 1000) < 600)

  const shown = await runCli(['info', 'movie.bin.torrent'], { cwd: dir })
  assert.equal(shown.code, 0, shown.stderr)
  assert.equal(field(shown.stdout, 'Name'), 'movie.bin')
  assert.equal(field(shown.stdout, 'Info hash'), infoHash)
  assert.equal(field(shown.stdout, 'Magnet'), field(created.stdout, 'Magnet'))
  assert.equal(field(shown.stdout, 'Size'), `3.0 MiB (${3 * MIB + 5} bytes)`)
  assert.equal(field(shown.stdout, 'Pieces'), '97 × 32.0 KiB (32768 bytes)')
  assert.equal(field(shown.stdout, 'Private'), 'no')
  assert.equal(field(shown.stdout, 'Comment'), 'a test')
  assert.equal(field(shown.stdout, 'Created by'), 'p2pshare/0.1.0')
  assert.match(shown.stdout, /^Files: 1\n +3\.0 MiB {2}movie\.bin$/m)
  assert.match(shown.stdout, /^Trackers:\n {2}http:\/\/127\.0\.0\.1:5000\/announce$/m)

  const json = await runCli(['info', 'movie.bin.torrent', '--json'], { cwd: dir })
  assert.equal(json.code, 0, json.stderr)
  const parsed = JSON.parse(json.stdout) as Record<string, unknown>
  assert.equal(parsed.info_hash, infoHash)
  assert.equal(parsed.total_size, 3 * MIB + 5)
  assert.equal(parsed.piece_length, 32768)
  assert.equal(parsed.piece_count, 97)
  assert.deepEqual(parsed.files, [{ path: 'movie.bin', length: 3 * MIB + 5 }])
  assert.equal(parsed.private, false)
  assert.equal(parsed.comment, 'a test')
})

test('create a folder: several trackers, private, chosen piece length and output; info lists the files', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'album', 'disc 2'), { recursive: true })
  writeFileSync(join(dir, 'album', 'b.txt'), 'bb')
  writeFileSync(join(dir, 'album', 'disc 2', 'a.txt'), 'a')
  const result = await runCli(['create', 'album', '-o', 'out.torrent', '-t', 'tracker.example:6969', '-t', 'udp://tracker.example:6969',
    '-t', 'http://private.example/announce?passkey=abc123', '--private', '--piece-length', '64K'], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
  const m = parseMetainfo(readFileSync(join(dir, 'out.torrent')))
  assert.equal(m.info.private, true)
  assert.equal(m.info.pieceLength, 64 * 1024)
  assert.deepEqual(m.trackers, ['http://tracker.example:6969/announce', 'udp://tracker.example:6969', 'http://private.example/announce?passkey=abc123'],
    'an announce URL keeps its passkey')
  assert.deepEqual(m.info.files.map(f => f.path), ['album/b.txt', 'album/disc 2/a.txt'])
  const shown = await runCli(['info', 'out.torrent'], { cwd: dir })
  assert.match(shown.stdout, /^Files: 2\n +2 B {2}album\/b\.txt\n +1 B {2}album\/disc 2\/a\.txt$/m)
  assert.match(shown.stdout, /^Private: yes/m)
})

test('create and share name the same info hash for the same file, and share prints its magnet link', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  for (const size of [1, 5 * MIB + 3]) {
    const file = await randomFile(dir, `same-${size}.bin`, size)
    const created = await runCli(['create', file.path, '-o', join(dir, `same-${size}.torrent`)], { cwd: dir })
    assert.equal(created.code, 0, created.stderr)
    const sharer = await startSharer(dir, file.path, url, t)
    const out = sharer.proc.stdout()
    assert.equal(field(out, 'Info hash'), field(created.stdout, 'Info hash'), `${size} bytes`)
    assert.equal(field(out, 'File hash'), file.sha1, 'the file hash comes from the same pass')
    assert.equal(field(out, 'Magnet'), `magnet:?xt=urn:btih:${field(created.stdout, 'Info hash')}&dn=same-${size}.bin&tr=${encodeURIComponent(`${url}/announce`)}`)
    // Every line the share output had before is still there, in order.
    assert.match(out, /Sharing file: .*\nFile size: \d+ bytes\nFile hash: [0-9a-f]{40}\nChunks: .*\nInfo hash: [0-9a-f]{40}\nMagnet: magnet:\?.*\n\n✅ Registered with tracker/)
    // The registration carried it (extension field info_hash): the tracker's catalogue joins the two names.
    const lookup = await (await fetch(`${url}/lookup?file_name=same-${size}.bin`)).json() as Record<string, unknown>
    assert.equal(lookup.info_hash, field(created.stdout, 'Info hash'))
    sharer.proc.kill('SIGINT')
    await sharer.proc.exited
  }
})

test('share of an empty file says why it has no info hash', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  writeFileSync(join(dir, 'empty.txt'), '')
  const sharer = await startSharer(dir, join(dir, 'empty.txt'), url, t)
  assert.match(sharer.proc.stdout(), /^Info hash: none \(an empty file cannot be a torrent\)$/m)
  assert.doesNotMatch(sharer.proc.stdout(), /^Magnet:/m)
})

test('create refuses to overwrite an existing torrent unless --force, and never hashes in vain', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'f.txt'), 'hello')
  assert.equal((await runCli(['create', 'f.txt'], { cwd: dir })).code, 0)
  const before = readFileSync(join(dir, 'f.txt.torrent'))
  const again = await runCli(['create', 'f.txt', '--comment', 'changed'], { cwd: dir })
  assert.equal(again.code, 9)
  assert.match(again.stderr, /^Error: .*f\.txt\.torrent already exists: use --force to overwrite it/m)
  assert.deepEqual(readFileSync(join(dir, 'f.txt.torrent')), before, 'untouched')
  const forced = await runCli(['create', 'f.txt', '--comment', 'changed', '--force'], { cwd: dir })
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(parseMetainfo(readFileSync(join(dir, 'f.txt.torrent'))).comment, 'changed')
  // Overwriting a file the torrent describes would describe something that no longer exists.
  mkdirSync(join(dir, 'd'))
  writeFileSync(join(dir, 'd', 'x.torrent'), 'old')
  const inside = await runCli(['create', 'd', '-o', join(dir, 'd', 'x.torrent'), '--force'], { cwd: dir })
  assert.equal(inside.code, 9)
  assert.match(inside.stderr, /is part of the content the torrent describes/)
})

test('create: usage errors exit 2, input problems exit 9, each with one readable line', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'f.txt'), 'hello')
  writeFileSync(join(dir, 'empty'), '')
  mkdirSync(join(dir, 'linked'))
  writeFileSync(join(dir, 'linked', 'x'), 'x')
  symlinkSync('/etc', join(dir, 'linked', 'etc'))
  const cases: Array<[string[], number, RegExp]> = [
    [['create', 'f.txt', '--piece-length', '1000'], 2, /piece length must be a power of two from 16 KiB to 16 MiB/],
    [['create', 'f.txt', '--piece-length', '32M'], 2, /piece length must be a power of two/],
    [['create', 'f.txt', '--tracker', 'ftp://x'], 2, /Invalid tracker URL/],
    [['create', 'f.txt', '--tracker', 'udp://nohost'], 2, /needs a host and a port/],
    [['create'], 2, /missing required argument/],
    [['create', 'missing.txt'], 9, /Cannot read missing\.txt: no such file or folder/],
    [['create', 'empty'], 9, /Nothing to put in a torrent: empty is empty/],
    [['create', 'linked'], 9, /linked\/etc is a symbolic link/]
  ]
  for (const [args, code, pattern] of cases) {
    const r = await runCli(args, { cwd: dir })
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, pattern)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  assert.equal(existsSync(join(dir, 'linked.torrent')), false, 'nothing written on failure')
})

test('info: a magnet link, a bare info hash, and every kind of bad input', async (t) => {
  const dir = tempDir(t)
  const hash = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
  const magnet = `magnet:?xt=urn:btih:${hash.toUpperCase()}&dn=Some%20Name&tr=http%3A%2F%2Ft%2Fannounce`
  const shown = await runCli(['info', magnet], { cwd: dir })
  assert.equal(shown.code, 0, shown.stderr)
  assert.equal(field(shown.stdout, 'Name'), 'Some Name')
  assert.equal(field(shown.stdout, 'Info hash'), hash)
  assert.equal(field(shown.stdout, 'Magnet'), `magnet:?xt=urn:btih:${hash}&dn=Some%20Name&tr=http%3A%2F%2Ft%2Fannounce`)
  assert.match(shown.stdout, /not in a magnet link; they come from peers \(BEP 9 metadata\)/)
  const json = JSON.parse((await runCli(['info', magnet, '--json'], { cwd: dir })).stdout) as Record<string, unknown>
  assert.deepEqual(json, { info_hash: hash, name: 'Some Name', magnet: field(shown.stdout, 'Magnet'), trackers: ['http://t/announce'], metadata: false })
  const bare = await runCli(['info', hash], { cwd: dir })
  assert.equal(bare.code, 0, bare.stderr)
  assert.equal(field(bare.stdout, 'Magnet'), `magnet:?xt=urn:btih:${hash}`)

  writeFileSync(join(dir, 'garbage.torrent'), 'this is not bencode')
  writeFileSync(join(dir, 'list.torrent'), 'li1ee')
  writeFileSync(join(dir, 'evil.torrent'), Buffer.concat([Buffer.from('d4:infod5:filesld6:lengthi1e4:pathl2:..6:passwdeee4:name1:x12:piece lengthi16384e6:pieces20:'), Buffer.alloc(20), Buffer.from('ee')]))
  writeFileSync(join(dir, 'short.torrent'), Buffer.concat([Buffer.from('d4:infod6:lengthi99999e4:name1:x12:piece lengthi16384e6:pieces20:'), Buffer.alloc(20), Buffer.from('ee')]))
  const cases: Array<[string[], number, RegExp]> = [
    [['info', 'missing.torrent'], 9, /Cannot read missing\.torrent: no such file/],
    [['info', dir], 9, /is not a regular file/],
    [['info', 'garbage.torrent'], 9, /garbage\.torrent is not a valid torrent file: Invalid bencode/],
    [['info', 'list.torrent'], 9, /list\.torrent is not a valid torrent file: not a dictionary/],
    [['info', 'evil.torrent'], 9, /evil\.torrent is not a valid torrent file: Unsafe path in torrent .*"\.\." would leave the folder/],
    [['info', 'short.torrent'], 9, /1 piece hashes for 99999 bytes in pieces of 16384 \(expected 7\)/],
    [['info', 'magnet:?dn=nohash'], 2, /no BitTorrent v1 info hash/],
    [['info'], 2, /missing required argument/]
  ]
  for (const [args, code, pattern] of cases) {
    const r = await runCli(args, { cwd: dir })
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, pattern)
  }
})

const hasMktorrent = spawnSync('mktorrent', ['-h']).error === undefined

test('mktorrent, given the same piece length, writes the same info dictionary (same info hash)', { skip: hasMktorrent ? false : 'mktorrent is not installed' }, async (t) => {
  const dir = tempDir(t)
  await randomFile(dir, 'one.bin', 300 * 1024 + 7)
  mkdirSync(join(dir, 'many', 'sub'), { recursive: true })
  await randomFile(join(dir, 'many'), 'a.bin', 40000)
  await randomFile(join(dir, 'many', 'sub'), 'b.bin', 70000)
  await randomFile(join(dir, 'many'), 'c.bin', 1)
  for (const target of ['one.bin', 'many']) {
    execFileSync('mktorrent', ['-l', '15', '-a', 'http://x/announce', '-o', join(dir, `${target}.mk.torrent`), target], { cwd: dir, stdio: 'ignore' })
    const ours = await runCli(['create', target, '--piece-length', '32K', '-o', `${target}.ours.torrent`], { cwd: dir })
    assert.equal(ours.code, 0, ours.stderr)
    const theirs = parseMetainfo(readFileSync(join(dir, `${target}.mk.torrent`)))
    const mine = parseMetainfo(readFileSync(join(dir, `${target}.ours.torrent`)))
    assert.equal(mine.infoHash, theirs.infoHash, target)
    assert.deepEqual(mine.info.raw, theirs.info.raw)
    assert.ok(statSync(join(dir, `${target}.ours.torrent`)).size > 0)
  }
})
