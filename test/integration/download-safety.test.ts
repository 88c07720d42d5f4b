/**
 * A download never destroys or escapes: the user's existing file or folder at a torrent's name is refused (exit 9)
 * unless --overwrite, and a symbolic link planted at `<name>.part` or inside its tree is never written through.
 * Single-file and multi-file torrents, from a real tracker and a real seed.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { tempDir } from '../helpers/files.js'
import { cli, runCli, startTracker } from '../helpers/process.js'

interface Swarm { dir: string, photos: string, report: string, files: Record<string, Buffer> }

/** A tracker, a folder `photos/` (two files, one in a subfolder) and a file `report.txt`, each seeded by our CLI. */
async function swarm (t: TestContext): Promise<Swarm> {
  const dir = tempDir(t, 'p2p-safety-')
  const { url } = await startTracker(dir, t)
  const src = join(dir, 'src')
  mkdirSync(join(src, 'photos', 'b'), { recursive: true })
  const files = { 'photos/a.jpg': randomBytes(70_000), 'photos/b/c.jpg': randomBytes(40_000), 'report.txt': randomBytes(50_000) }
  for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data)
  const torrents: string[] = []
  for (const name of ['photos', 'report.txt']) {
    const out = join(dir, `${name}.torrent`)
    const made = await runCli(['create', join(src, name), '-t', url, '-o', out], { cwd: dir })
    assert.equal(made.code, 0, made.stderr)
    // The content is already in src: `download --seed` verifies it there and seeds it.
    const seed = cli(['download', out, '--out', src, '--seed', '--host', '127.0.0.1'], { cwd: dir, t })
    await seed.waitFor(/Seeding|seeding/)
    torrents.push(out)
  }
  return { dir, photos: torrents[0] as string, report: torrents[1] as string, files }
}

async function download (s: Swarm, torrent: string, out: string, extra: string[] = []): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await runCli(['download', torrent, '--out', out, '--host', '127.0.0.1', '--stall-timeout', '20', ...extra], { cwd: s.dir, timeoutMs: 40_000 })
}

test('a download never replaces the user\'s files and never follows a link it did not make', async (t) => {
  const s = await swarm(t)

  await t.test('an existing folder of the torrent\'s name is refused (exit 9) and left as it was', async () => {
    const out = join(s.dir, 'out-folder')
    mkdirSync(join(out, 'photos'), { recursive: true })
    writeFileSync(join(out, 'photos', 'mine.txt'), 'my holiday')
    const r = await download(s, s.photos, out)
    assert.equal(r.code, 9, r.stderr)
    assert.match(r.stderr, /photos already exists and is not this download's content.*--overwrite/)
    assert.deepEqual(readdirSync(join(out, 'photos')), ['mine.txt'])
    assert.equal(readFileSync(join(out, 'photos', 'mine.txt'), 'utf8'), 'my holiday')
  })

  await t.test('an existing different file is refused, and replaced only with --overwrite', async () => {
    const out = join(s.dir, 'out-file')
    mkdirSync(out)
    writeFileSync(join(out, 'report.txt'), 'my own report')
    const refused = await download(s, s.report, out)
    assert.equal(refused.code, 9, refused.stderr)
    assert.equal(readFileSync(join(out, 'report.txt'), 'utf8'), 'my own report')
    const replaced = await download(s, s.report, out, ['--overwrite'])
    assert.equal(replaced.code, 0, replaced.stderr)
    assert.ok(readFileSync(join(out, 'report.txt')).equals(s.files['report.txt'] as Buffer))
  })

  await t.test('the same content already there is kept and nothing is fetched', async () => {
    const out = join(s.dir, 'out-same')
    mkdirSync(out)
    writeFileSync(join(out, 'report.txt'), s.files['report.txt'] as Buffer)
    const r = await download(s, s.report, out)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Already downloaded/)
  })

  await t.test('a .part that is a link to a file elsewhere is refused; the victim is untouched', async () => {
    const out = join(s.dir, 'out-link-file')
    mkdirSync(out)
    const victim = join(s.dir, 'victim.txt')
    writeFileSync(victim, 'precious')
    symlinkSync(victim, join(out, 'report.txt.part'))
    const r = await download(s, s.report, out)
    assert.equal(r.code, 9, r.stderr)
    assert.match(r.stderr, /symbolic link/)
    assert.equal(readFileSync(victim, 'utf8'), 'precious')
    assert.equal(existsSync(join(out, 'report.txt')), false)
  })

  await t.test('a multi-file .part that is a link to a folder elsewhere is refused; nothing lands there', async () => {
    const out = join(s.dir, 'out-link-dir')
    mkdirSync(out)
    const victim = join(s.dir, 'victim-dir')
    mkdirSync(victim)
    symlinkSync(victim, join(out, 'photos.part'))
    const r = await download(s, s.photos, out)
    assert.equal(r.code, 9, r.stderr)
    assert.match(r.stderr, /symbolic link/)
    assert.deepEqual(readdirSync(victim), [])
  })

  await t.test('a link inside a multi-file .part tree (a resumed download) is refused; nothing lands there', async () => {
    const out = join(s.dir, 'out-link-inner')
    mkdirSync(join(out, 'photos.part'), { recursive: true })
    const victim = join(s.dir, 'victim-inner')
    mkdirSync(victim)
    symlinkSync(victim, join(out, 'photos.part', 'b'))
    const r = await download(s, s.photos, out)
    assert.equal(r.code, 9, r.stderr)
    assert.match(r.stderr, /symbolic link/)
    assert.deepEqual(readdirSync(victim), [])
  })

  await t.test('with nothing in the way, the multi-file torrent downloads whole', async () => {
    const out = join(s.dir, 'out-clean')
    const r = await download(s, s.photos, out)
    assert.equal(r.code, 0, r.stderr)
    assert.ok(readFileSync(join(out, 'photos', 'a.jpg')).equals(s.files['photos/a.jpg'] as Buffer))
    assert.ok(readFileSync(join(out, 'photos', 'b', 'c.jpg')).equals(s.files['photos/b/c.jpg'] as Buffer))
  })
})
