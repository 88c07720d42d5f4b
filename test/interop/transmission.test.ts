/**
 * Our peers with Transmission 3.00 (Debian's transmission-daemon, driven by transmission-remote), on 127.0.0.1 with
 * DHT, LPD, PEX, uTP and port forwarding off and encryption not preferred. Our tracker introduces the peers.
 *
 * Transmission never dials a loopback peer it learns from a tracker (libtransmission/net.c, isMartianAddr), but it
 * accepts incoming connections: when it downloads, our seed must dial it. Our seed dials the peers its announces
 * return, and announces `started` when it starts, so Transmission is added (and has announced) first. (Our tracker
 * asks a seed to re-announce only every 30 minutes and `p2pshare tracker` has no option to shorten that.)
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomFile, sha1Of, tempDir } from '../helpers/files.js'
import { freePort } from '../helpers/net.js'
import { pollUntil, waitForSwarm } from '../helpers/poll.js'
import { exitReason, runCli, runToEnd, start, startSharer, startTracker, stopProcess, type Proc } from '../helpers/process.js'

/** Each test's own bound (node:test cancels it past this); the waits inside are shorter. */
const TEST_TIMEOUT_MS = 240_000

test.before(() => {
  for (const tool of ['transmission-daemon', 'transmission-remote']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'pipe' })
    } catch {
      throw new Error(`${tool} is missing: apt-get install transmission-daemon transmission-cli (.ci/run does)`)
    }
  }
})

interface Transmission {
  proc: Proc
  downloadDir: string
  /** Runs transmission-remote against this daemon; resolves with its stdout, rejects on a non-zero exit. */
  remote: (args: string[]) => Promise<string>
  /** The torrent's "Percent Done" (0-100), from `transmission-remote -t HASH -i`. */
  percentDone: (infoHash: string) => Promise<number>
  stop: () => Promise<void>
}

/** A transmission-daemon of its own (config and download folders under `dir`), loopback only; resolves once its RPC answers. */
async function startTransmission (dir: string, t: TestContext): Promise<Transmission> {
  const configDir = join(dir, 'tr-config')
  const downloadDir = join(dir, 'tr-downloads')
  mkdirSync(configDir)
  mkdirSync(downloadDir)
  const rpcPort = await freePort()
  const settings = {
    'bind-address-ipv4': '127.0.0.1',
    'bind-address-ipv6': '::1',
    'rpc-bind-address': '127.0.0.1',
    'rpc-port': rpcPort,
    'rpc-authentication-required': false,
    'rpc-whitelist-enabled': true,
    'rpc-whitelist': '127.0.0.1',
    'peer-port': await freePort(),
    'peer-port-random-on-start': false,
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'utp-enabled': false,
    'port-forwarding-enabled': false,
    'blocklist-enabled': false,
    // 0: prefer plaintext (BEP 3 handshakes), accept encrypted.
    encryption: 0,
    'speed-limit-down-enabled': false,
    'speed-limit-up-enabled': false,
    'alt-speed-enabled': false,
    'ratio-limit-enabled': false,
    'idle-seeding-limit-enabled': false,
    'download-queue-enabled': false,
    'seed-queue-enabled': false,
    'queue-stalled-enabled': false,
    'download-dir': downloadDir,
    'incomplete-dir-enabled': false,
    'watch-dir-enabled': false,
    'start-added-torrents': true,
    'message-level': 1
  }
  writeFileSync(join(configDir, 'settings.json'), JSON.stringify(settings, null, 2))
  const proc = start('transmission-daemon', ['-f', '-g', configDir], { cwd: dir, t })
  const remote = async (args: string[]): Promise<string> => {
    const result = await runToEnd(start('transmission-remote', [`127.0.0.1:${rpcPort}`, ...args], { cwd: dir }), 15_000)
    if (result.code !== 0) throw new Error(`transmission-remote ${args.join(' ')}: exit ${result.code}: ${result.stdout}${result.stderr}`)
    return result.stdout
  }
  const percentDone = async (infoHash: string): Promise<number> => {
    const info = await remote(['-t', infoHash, '-i'])
    const m = info.match(/Percent Done: ([\d.]+)%/)
    if (m === null) throw new Error(`no "Percent Done" in transmission-remote -i: ${info}`)
    return Number(m[1])
  }
  await pollUntil('transmission-daemon to answer RPC', async () => (await remote(['-l'])).includes('Sum:') ? true : undefined, {
    timeoutMs: 20_000, giveUpIf: () => exitReason(proc, 'transmission-daemon')
  })
  return { proc, downloadDir, remote, percentDone, stop: async () => { await stopProcess(proc) } }
}

async function setup (t: TestContext): Promise<{ dir: string, url: string, announceUrl: string, file: { path: string, sha1: string }, torrent: string, infoHash: string }> {
  const dir = tempDir(t)
  const { url } = await startTracker(dir, t)
  const file = await randomFile(dir, 'payload.bin', 3 * 1024 * 1024 + 777)
  const torrent = join(dir, 'payload.torrent')
  const created = await runCli(['create', file.path, '--tracker', url, '-o', torrent], { cwd: dir })
  assert.equal(created.code, 0, created.stderr)
  const infoHash = created.stdout.match(/Info hash: ([0-9a-f]{40})/)?.[1] ?? ''
  return { dir, url, announceUrl: `${url}/announce`, file, torrent, infoHash }
}

test('Transmission downloads a file that only our peer seeds (our seed dials it)', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, url, announceUrl, file, torrent, infoHash } = await setup(t)
  const tr = await startTransmission(dir, t)
  try {
    await tr.remote(['-a', torrent])
    // Transmission has announced: our seed's first announce will list it.
    await waitForSwarm(announceUrl, infoHash, { incomplete: 1 })
    const seed = await startSharer(dir, file.path, url, t, ['--verbose'])
    await pollUntil('Transmission to complete the download', async () => (await tr.percentDone(infoHash)) === 100 ? true : undefined, {
      timeoutMs: 120_000,
      intervalMs: 500,
      giveUpIf: () => exitReason(tr.proc, 'transmission-daemon') ?? exitReason(seed.proc, 'our seed'),
      describe: () => `our seed's log: ${seed.proc.stderr().slice(-2000)}`
    })
    // Transmission writes through its cache: wait (bounded) for the bytes to reach the file.
    const got = join(tr.downloadDir, 'payload.bin')
    await pollUntil('the completed file in Transmission\'s download folder', () => existsSync(got) && sha1Of(got) === file.sha1 ? true : undefined, { timeoutMs: 15_000, intervalMs: 500 })
    assert.equal(sha1Of(got), file.sha1)
  } finally {
    await tr.stop()
  }
})

test('our downloader fetches a file that only Transmission seeds', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, announceUrl, file, torrent, infoHash } = await setup(t)
  const tr = await startTransmission(dir, t)
  try {
    copyFileSync(file.path, join(tr.downloadDir, 'payload.bin'))
    await tr.remote(['-a', torrent])
    // Transmission checks the data it finds, then announces as a seed.
    await pollUntil('Transmission to verify its copy', async () => (await tr.percentDone(infoHash)) === 100 ? true : undefined, {
      timeoutMs: 60_000, intervalMs: 500, giveUpIf: () => exitReason(tr.proc, 'transmission-daemon')
    })
    await waitForSwarm(announceUrl, infoHash, { complete: 1 })
    // Transmission unchokes on its 10 s rechoke: slow to start, so a generous (bounded) wait.
    const result = await runCli(['download', torrent, '--host', '127.0.0.1', '--out', join(dir, 'got'), '--json', '--verbose'], { cwd: dir, timeoutMs: 150_000 })
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`)
    assert.match(result.stdout, /"event":"done"/)
    assert.equal(sha1Of(join(dir, 'got', 'payload.bin')), file.sha1)
  } finally {
    await tr.stop()
  }
})
