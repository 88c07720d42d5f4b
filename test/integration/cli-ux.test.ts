/**
 * What the CLI tells people: `download --help` names every kind of target; a .torrent that cannot be used is one line
 * naming it (exit 9), before anything is listened on or written; a bare `x.torrent` that is no file is looked up as a
 * name, and said to be missing both ways; names from a torrent reach the terminal inert (no escape sequence, no
 * newline).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { terminalSafe } from '../../src/cli/terminal-safe.js'
import { bencode } from '../../src/content/index.js'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { runCli, startSharer, startTracker } from '../helpers/process.js'

test('download --help says it takes a name, a file hash, an info hash, a .torrent file or a magnet link', async (t) => {
  const dir = tempDir(t)
  const help = await runCli(['download', '--help'], { cwd: dir })
  assert.equal(help.code, 0, help.stderr)
  const usage = help.stdout.split('\n')[0] ?? ''
  assert.match(usage, /^Usage: p2pshare download \[options\] <target>$/)
  // Commander wraps the text to the width of the terminal (80 columns without one): read it as words.
  const words = help.stdout.replace(/\s+/g, ' ')
  for (const kind of [/file name/, /file hash/, /info hash/, /\.torrent file/, /magnet link/]) {
    assert.match(words, kind, `download --help mentions ${String(kind)}`)
  }
  assert.match(help.stdout, /^Examples:$/m)
  assert.match(help.stdout, /p2pshare download 'magnet:\?xt=urn:btih:/)
  const top = await runCli(['--help'], { cwd: dir })
  assert.match(top.stdout.replace(/\s+/g, ' '), /download \[options\] <target> download a file by name, file hash, info hash, \.torrent file or magnet link/)
})

test('a malformed .torrent is "x.torrent is not a valid torrent file: <reason>", exit 9, and nothing is created', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'bad.torrent'), 'this is no bencode at all')
  writeFileSync(join(dir, 'sub', 'noinfo.torrent'), bencode({ announce: 'http://127.0.0.1:1/announce', info: 1 }))
  for (const [arg, reason] of [['bad.torrent', /: Invalid bencode: /], [join('sub', 'noinfo.torrent'), /no "info" dictionary/]] as const) {
    const out = join(dir, `out-${arg.length}`)
    const result = await runCli(['download', arg, '--out', out, '--host', '127.0.0.1'], { cwd: dir })
    assert.equal(result.code, 9, result.stderr)
    assert.equal(result.stderr.split('\n').length, 2, `one line: ${result.stderr}`)
    assert.match(result.stderr, new RegExp(`^Error: ${arg.replace(/[.\\/]/g, '\\$&')} is not a valid torrent file: `))
    assert.match(result.stderr, reason)
    assert.equal(result.stdout, '')
    assert.equal(existsSync(out), false, 'no output folder for a torrent that was refused')
    const info = await runCli(['info', arg], { cwd: dir })
    assert.equal(info.code, 9)
    assert.equal(info.stderr, result.stderr, 'info and download say the same')
  }
})

test('a bare x.torrent that is no file is looked up as a name; missing there too: one line saying both, exit 9', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const missing = await runCli(['download', 'ghost.torrent', '--tracker', url, '--host', '127.0.0.1', '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(missing.code, 9, missing.stderr)
  assert.equal(missing.stderr, 'Error: Cannot read ghost.torrent: no such file (looked up as a file name on the tracker too: not found)\n')

  const refused = await runCli(['download', 'ghost.torrent', '--tracker', `http://127.0.0.1:${await freePort()}`, '--host', '127.0.0.1', '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(refused.code, 9, refused.stderr)
  assert.match(refused.stderr, /^Error: Cannot read ghost\.torrent: no such file \(and it could not be looked up as a file name on the tracker: Failed to connect to tracker at http:\/\/127\.0\.0\.1:\d+ .*\)\n$/)

  const path = await runCli(['download', join('nowhere', 'ghost.torrent'), '--tracker', url, '--host', '127.0.0.1', '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(path.code, 9, path.stderr)
  assert.equal(path.stderr, `Error: Cannot read ${join('nowhere', 'ghost.torrent')}: no such file\n`, 'a path is never a name')
})

test('a file shared under a name ending in .torrent is still downloaded by that name', async (t) => {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  mkdirSync(join(dir, 'share'))
  const file = await randomFile(join(dir, 'share'), 'notes.torrent', 3000)
  await startSharer(dir, file.path, url, t)
  const result = await runCli(['download', 'notes.torrent', '--tracker', url, '--host', '127.0.0.1', '--out', join(dir, 'got')], { cwd: dir })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(sha1Of(join(dir, 'got', file.sha1)), file.sha1)
})

/** A one-file torrent of `content` named `name`, announcing to a tracker that is not there. */
function torrentOf (name: string, content: Buffer): Buffer {
  return bencode({
    announce: 'http://127.0.0.1:9/announce',
    comment: 'line one\nline two\x1b]52;c;cHduZWQ=\x07',
    'created by': 'evil\x9b2J/1.0',
    info: { length: content.length, name, 'piece length': 16384, pieces: createHash('sha1').update(content).digest() }
  })
}

/** The characters of `text` a terminal would act on, newlines between lines aside: controls (C0, DEL, C1) and bidi controls. */
function terminalControls (text: string, newlines: 'between lines' | 'none' = 'between lines'): string[] {
  return [...text].filter(c => (c !== '\n' || newlines === 'none') && /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u.test(c))
}

const EVIL_NAME = 'evil\x1b[2J\nname\u202egnp.exe'
const CONTENT = Buffer.from('hello, terminal')

test('info prints a torrent\'s names inert: no ESC, no C1 control, no bidi control, no newline in a name', async (t) => {
  const dir = tempDir(t)
  const name = EVIL_NAME
  writeFileSync(join(dir, 'evil.torrent'), torrentOf(name, CONTENT))

  const info = await runCli(['info', 'evil.torrent'], { cwd: dir })
  assert.equal(info.code, 0, info.stderr)
  for (const [stream, text] of [['stdout', info.stdout], ['stderr', info.stderr]] as const) {
    assert.deepEqual(terminalControls(text), [], `info ${stream} holds no terminal control: ${JSON.stringify(text)}`)
  }
  const shown = terminalSafe(name)
  assert.match(shown, /^evil.\[2J.name.gnp\.exe$/u, 'each control is one visible character')
  const lines = info.stdout.split('\n')
  assert.ok(lines.includes(`Name: ${shown}`), 'the name on one line, its controls shown inert')
  assert.ok(lines.includes(`Comment: ${terminalSafe('line one\nline two\x1b]52;c;cHduZWQ=\x07')}`), 'the comment too')
  assert.ok(lines.includes(`Created by: ${terminalSafe('evil\x9b2J/1.0')}`), 'and the creator')
  assert.ok(lines.some(l => /^ +15 B {2}/.test(l) && l.endsWith(`15 B  ${shown}`)), 'and the file list')
  const json = await runCli(['info', 'evil.torrent', '--json'], { cwd: dir })
  assert.equal(json.code, 0, json.stderr)
  assert.deepEqual(terminalControls(json.stdout.trimEnd(), 'none'), [], 'JSON output holds the controls escaped')
  assert.equal((JSON.parse(json.stdout) as { name: string }).name, name, 'and keeps the name exact, for scripts')
})

test('download prints a torrent\'s name inert: no ESC, no C1 control, no bidi control, no newline', async (t) => {
  const dir = tempDir(t)
  const name = EVIL_NAME
  const shown = terminalSafe(name)
  writeFileSync(join(dir, 'evil.torrent'), torrentOf(name, CONTENT))
  // The content is already there, verified: download prints where it is, the torrent's name in the path.
  const out = join(dir, 'got')
  mkdirSync(out)
  writeFileSync(join(out, name), CONTENT)
  const download = await runCli(['download', 'evil.torrent', '--out', out, '--host', '127.0.0.1'], { cwd: dir })
  assert.equal(download.code, 0, download.stderr)
  for (const [stream, text] of [['stdout', download.stdout], ['stderr', download.stderr]] as const) {
    assert.deepEqual(terminalControls(text), [], `download ${stream} holds no terminal control: ${JSON.stringify(text)}`)
  }
  assert.ok(download.stdout.startsWith('Already downloaded: ') && download.stdout.includes(`${shown} (every piece verified, nothing fetched)`), download.stdout)
  assert.equal(download.stdout.trim().split('\n').length, 1, `one line: ${download.stdout}`)
})

test('create prints a file\'s own name inert too: a name with ESC, a newline and a bidi control', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, EVIL_NAME), CONTENT)
  const made = await runCli(['create', EVIL_NAME, '-o', 'out.torrent'], { cwd: dir })
  assert.equal(made.code, 0, made.stderr)
  assert.deepEqual(terminalControls(made.stdout), [], `create stdout holds no terminal control: ${JSON.stringify(made.stdout)}`)
  assert.ok(made.stdout.split('\n').includes(`Name: ${terminalSafe(EVIL_NAME)}`))
})
