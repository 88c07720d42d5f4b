/**
 * The real transmission-remote (Debian transmission-cli 3.00) against our Transmission RPC on 127.0.0.1: -l, -a (a
 * magnet, and a local .torrent it sends as metainfo), -i, -f, -S, -s, -v, -r, -rad, -st, -si, asserting on what it
 * prints and on the session behind the RPC.
 *
 * The target is one function, `standIn()`: the plugin over the in-memory FakeSession. A target for the real node only
 * has to give the same three things (the address, its SessionApi, close), and the same commands run against it.
 * Without transmission-remote the suite is skipped, saying so (CI installs transmission-cli).
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { createMetainfo } from '../../src/content/index.js'
import type { SessionApi } from '../../src/session/types.js'
import { transmissionRpc } from '../../src/api/transmission-rpc.js'
import { FakeSession } from '../helpers/fake-session.js'

const REMOTE = 'transmission-remote'
/** Bound of one transmission-remote run (it answers in milliseconds; this only ends a hung one). */
const RUN_TIMEOUT_MS = 20_000

/**
 * What the commands run against: transmission-remote's `host:port`, and the session behind it. `fake` is there for
 * the stand-in only: the checks that need its call log are skipped against another target.
 */
interface RpcTarget {
  address: string
  session: SessionApi
  close: () => Promise<void>
  fake?: FakeSession
}

/** The RPC plugin in a fastify of its own on 127.0.0.1 (port 0), over the FakeSession. */
async function standIn (): Promise<RpcTarget> {
  const session = new FakeSession({ version: '0.1.0' })
  const app = Fastify()
  await app.register(async (child) => { await transmissionRpc({ session })(child) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { address: `127.0.0.1:${port}`, session, fake: session, close: async () => { await app.close() } }
}

interface Run { code: number | null, stdout: string, stderr: string }

function run (command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: RUN_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

/** Why the suite cannot run here, or false. */
async function missingRemote (): Promise<string | false> {
  const probe = await run(REMOTE, ['--version'])
  return probe.code === 0 ? false : `${REMOTE} is not installed (Debian package transmission-cli): ${probe.stderr.trim() || 'not found'}`
}

const HASH = '0123456789abcdef0123456789abcdef01234567'
const MAGNET = `magnet:?xt=urn:btih:${HASH}&dn=Ubuntu`

describe('transmission-remote 3.00 against the Transmission RPC', { skip: await missingRemote() }, () => {
  let target: RpcTarget
  let dir: string
  let torrentPath: string
  let torrentHash: string

  /** transmission-remote at the target; its exit code and output. */
  const remote = async (...args: string[]): Promise<Run> => await run(REMOTE, [target.address, ...args])
  const ok = async (...args: string[]): Promise<string> => {
    const r = await remote(...args)
    assert.equal(r.code, 0, `transmission-remote ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    return r.stdout
  }
  const responded = async (...args: string[]): Promise<void> => {
    assert.match(await ok(...args), /transmission\/rpc\/ responded: "success"/)
  }
  const state = (id: number): string | undefined => target.session.list().find((t) => t.id === id)?.state
  /** `-l`'s row of torrent `id`, its columns split. */
  const row = async (id: number): Promise<string[]> => {
    const line = (await ok('-l')).split('\n').find((l) => new RegExp(`^\\s+${id}\\*?\\s`).test(l))
    assert.ok(line !== undefined, `no row for torrent ${id}`)
    return line.trim().split(/\s{2,}/)
  }

  before(async () => {
    target = await standIn()
    dir = mkdtempSync(join(tmpdir(), 'trpc-remote-'))
    writeFileSync(join(dir, 'hello.txt'), 'hello\n')
    const created = await createMetainfo({ path: join(dir, 'hello.txt'), trackers: ['http://127.0.0.1:1/announce'], createdBy: 'p2pshare/test' })
    torrentPath = join(dir, 'hello.txt.torrent')
    writeFileSync(torrentPath, created.torrent)
    torrentHash = created.infoHash
  })

  after(async () => {
    await target.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('the 409 carries X-Transmission-Session-Id spelled as Transmission does, and the id works', async () => {
    const [host, port] = target.address.split(':')
    const exchange = async (headers: Record<string, string>): Promise<{ status: number, raw: string[], body: string }> => await new Promise((resolve, reject) => {
      const req = request({ host, port: Number(port), method: 'POST', path: '/transmission/rpc', headers, timeout: RUN_TIMEOUT_MS }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders, body }) })
      })
      req.on('error', reject).on('timeout', () => { req.destroy(new Error('no reply')) })
      req.end('{"method":"session-get","arguments":{"fields":["rpc-version"]}}')
    })
    const first = await exchange({})
    assert.equal(first.status, 409)
    const at = first.raw.indexOf('X-Transmission-Session-Id')
    assert.ok(at >= 0, first.raw.join(' | '))
    const id = first.raw[at + 1] ?? ''
    const second = await exchange({ 'X-Transmission-Session-Id': id })
    assert.equal(second.status, 200)
    assert.deepEqual(JSON.parse(second.body), { arguments: { 'rpc-version': 16 }, result: 'success' })
  })

  test('-l on an empty session: the header and the Sum line', async () => {
    const out = await ok('-l')
    assert.match(out, /^\s+ID\s+Done\s+Have\s+ETA\s+Up\s+Down\s+Ratio\s+Status\s+Name$/m)
    assert.match(out, /^Sum:\s+None\s+0\.0\s+0\.0$/m)
  })

  test('-a <magnet> adds it (torrent-add filename); -a <local .torrent> is sent as base64 metainfo', async () => {
    await responded('-a', MAGNET)
    assert.deepEqual(target.session.list().map((t) => [t.id, t.infoHash, t.name]), [[1, HASH, 'Ubuntu']])
    await responded('-a', torrentPath)
    const second = target.session.list()[1]
    assert.equal(second?.infoHash, torrentHash)
    assert.equal(second?.name, 'hello.txt')
    const calls = target.fake?.calls.filter((c) => c.method === 'add').map((c) => (c.args[0] as { kind: string }).kind)
    if (calls !== undefined) assert.deepEqual(calls, ['magnet', 'torrent'], 'transmission-remote read the file itself and sent its content')
  })

  test('-l lists both: done, have, ETA, ratio and status as transmission-remote computes them from our fields', async () => {
    assert.deepEqual(await row(1), ['1', 'n/a', 'None', 'Unknown', '0.0', '0.0', 'None', 'Idle', 'Ubuntu'])
    assert.deepEqual(await row(2), ['2', '0%', 'None', 'Unknown', '0.0', '0.0', '0.0', 'Idle', 'hello.txt'])
  })

  test('-t 1 -i shows the details: id, name, hash, magnet, state, location, limits', async () => {
    const out = await ok('-t', '1', '-i')
    const location = target.session.settings.downloadDir
    for (const line of ['  Id: 1', '  Name: Ubuntu', `  Hash: ${HASH}`, '  State: Idle', `  Location: ${location}`, '  Public torrent: Yes', '  Ratio Limit: Default', '  Download Limit: Unlimited']) {
      assert.ok(out.includes(`${line}\n`), `${line}\n---\n${out}`)
    }
    assert.match(out, /^ {2}Magnet: magnet:\?xt=urn:btih:0123456789abcdef/m)
    assert.match(out, /^ {2}Date added: {7}\w{3} \w{3} /m)
    const second = await ok('-t', '2', '-i')
    assert.match(second, /^ {2}Percent Done: 0(\.0+)?%$/m)
    assert.match(second, /^ {2}Total size: 0\.01 kB \(0\.01 kB wanted\)$/m)
    assert.match(second, /^ {2}Piece Count: 1$/m)
    assert.match(second, /^ {2}Piece Size: 16\.00 KiB$/m)
  })

  test('-t 2 -f lists the torrent\'s files', async () => {
    const out = await ok('-t', '2', '-f')
    assert.match(out, /^hello\.txt \(1 files\):$/m)
    assert.match(out, /^ {2}0: {3}0% Normal {3}Yes {3}0\.01 kB {2}hello\.txt$/m)
  })

  test('-t 1 -S stops it, -t 1 -s starts it again', async () => {
    await responded('-t', '1', '-S')
    assert.equal(state(1), 'paused')
    assert.equal((await row(1))[7], 'Stopped')
    await responded('-t', '1', '-s')
    assert.equal(state(1), 'metadata')
    assert.equal((await row(1))[7], 'Idle')
  })

  test('-t 2 -v verifies it; a magnet without metadata cannot be: exit 1 with the session\'s reason', async () => {
    await responded('-t', '2', '-v')
    assert.equal(state(2), 'checking')
    assert.equal((await row(2))[7], 'Verifying')
    const refused = await remote('-t', '1', '-v')
    assert.equal(refused.code, 1)
    assert.match(refused.stdout, /^Error: .*metadata/m)
  })

  test('-st prints the session statistics', async () => {
    const out = await ok('-st')
    assert.match(out, /^CURRENT SESSION$/m)
    assert.match(out, /^TOTAL$/m)
    assert.match(out, /^ {2}Started 1 times$/m)
    assert.match(out, /^ {2}Uploaded: {3}None$/m)
  })

  test('-si prints the session: our version, rpc-version 16, the download dir, port and limits', async () => {
    const out = await ok('-si')
    const { downloadDir, port } = target.session.settings
    const lines = out.split('\n')
    assert.ok(lines.includes(`  Daemon version: 3.00 (p2pshare ${target.session.version})`), out)
    assert.ok(lines.includes(`  Download directory: ${downloadDir}`), out)
    assert.ok(lines.includes(`  Listenport: ${port}`), out)
    assert.match(out, /^ {2}RPC version: 16$/m)
    assert.match(out, /^ {2}RPC minimum version: 14$/m)
    assert.match(out, /^ {2}Default seed ratio limit: Unlimited$/m)
    assert.match(out, /^ {2}Download speed limit: Unlimited/m)
  })

  test('-d 100 sets the session\'s download limit in kB/s; -si shows it back', async () => {
    await responded('-d', '100')
    assert.equal(target.session.settings.downloadLimit, 100_000)
    assert.match(await ok('-si'), /^ {2}Download speed limit: 100 kB\/s \(Enabled limit: 100 kB\/s;/m)
  })

  test('-t 1 -r removes it and keeps its data; -t 2 -rad removes it with its data', async () => {
    await responded('-t', '1', '-r')
    assert.deepEqual(target.session.list().map((t) => t.id), [2])
    if (target.fake !== undefined) assert.equal(target.fake.removedWithData.get(1), false)
    await responded('-t', torrentHash, '-rad')
    assert.deepEqual(target.session.list(), [])
    if (target.fake !== undefined) assert.equal(target.fake.removedWithData.get(2), true)
  })
})
