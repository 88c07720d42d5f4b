/**
 * Tracker load: p2pshare's tracker beside opentracker (Debian) and the npm `bittorrent-tracker` server, in one run.
 *
 *   node dist/bench/tracker.js [--seconds 10] [--runs 1] [--only ours,opentracker,bittorrent-tracker]
 *                              [--skip-memory] [--swarms 100000] [--peers-per-swarm 10] [--record]
 *
 * For each tracker, fresh for every measurement, on 127.0.0.1 (HTTP and UDP on one port):
 * - HTTP announces/s with `wrk -t2 -c50 -d<seconds>s --latency`, every request a new peer (new port and peer id) of
 *   one swarm, and every request the same peer;
 * - UDP announces/s with bench/udp-load.ts (4 sockets, 64 announces in flight each), every announce a new peer;
 * - HTTP latency at half of p2pshare's peak new-peer rate: wrk paced by a per-request delay (wrk 4 has no fixed-rate
 *   mode), calibrated once, the achieved rate reported beside the percentiles;
 * - memory: swarms × peers-per-swarm peers (default 1,000,000 in 100,000 swarms) announced over UDP, then the
 *   process's resident memory (VmRSS) and peak (VmHWM) from /proc (p2pshare and opentracker).
 *
 * Every reply format is checked once before timing (a bencoded dictionary with `peers`, no failure). p2pshare runs with
 * its per-IP rate limits off (every request comes from 127.0.0.1, as in any single-machine load test) and its default
 * bounds otherwise. Needs `wrk` and `opentracker` (Debian) and installs `bittorrent-tracker` from npm into
 * bench/.deps with --ignore-scripts (its WebRTC module has no binary then, and is replaced by a stub that throws: only
 * HTTP and UDP are used). Targets (issue 4): HTTP new-peer announces/s ≥ 1.3× opentracker and ≥ 5× bittorrent-tracker;
 * UDP ≥ opentracker; p99 < 10 ms at half peak; 1M peers in 100k swarms in < 1 GiB RSS.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { arg, CLI, flag, freePort, machineLine, median, ROOT, runMain, sleep, startBg, withTempDir, type Bg } from './lib.js'

const seconds = Number(arg('--seconds', '10'))
const runs = Number(arg('--runs', '1'))
const only = arg('--only', 'ours,opentracker,bittorrent-tracker').split(',')
const skipMemory = flag('--skip-memory')
const swarmCount = Number(arg('--swarms', '100000'))
const peersPerSwarm = Number(arg('--peers-per-swarm', '10'))
const record = flag('--record')

const BT_TRACKER_VERSION = '11.2.3'
const DEPS = join(ROOT, 'bench', '.deps')
/** The swarm of the throughput runs. */
const INFO_HASH = '123456789abcdef0123456789abcdef012345678'
const CONNECTIONS = 50
/** Linux clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())
/** Bytes 4..19 of every fill swarm's info hash (bytes 0..3: the swarm's number), as udp-load.ts makes them. */
const FILL_TAIL = INFO_HASH.slice(8)

type Name = 'ours' | 'opentracker' | 'bittorrent-tracker'
const LABEL: Record<Name, string> = { ours: 'p2pshare', opentracker: 'opentracker', 'bittorrent-tracker': 'bittorrent-tracker' }

interface Running { bg: Bg, port: number, pid: number }

interface WrkResult { rps: number, requests: number, p50: number, p99: number, errors: string }

function urlEncodeHex (hex: string): string {
  return hex.replace(/../g, (byte) => `%${byte}`)
}

/** Installs bittorrent-tracker into bench/.deps once; returns its CLI. */
function btTrackerCli (): string {
  const cli = join(DEPS, 'node_modules', 'bittorrent-tracker', 'bin', 'cmd.js')
  if (!existsSync(cli)) {
    mkdirSync(DEPS, { recursive: true })
    writeFileSync(join(DEPS, 'package.json'), '{ "private": true }\n')
    process.stderr.write(`bench: installing bittorrent-tracker@${BT_TRACKER_VERSION} into ${DEPS}\n`)
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', `bittorrent-tracker@${BT_TRACKER_VERSION}`], { cwd: DEPS, stdio: 'inherit' })
  }
  // With scripts ignored node-datachannel has no native module, and bittorrent-tracker imports it at start.
  writeFileSync(join(DEPS, 'node_modules', 'webrtc-polyfill', 'index.js'), `// Written by bench/tracker.ts: WebRTC is not used (HTTP and UDP only).
class Unavailable { constructor () { throw new Error('WebRTC is not available in this benchmark install') } }
export const RTCPeerConnection = Unavailable
export const RTCSessionDescription = Unavailable
export const RTCIceCandidate = Unavailable
export const RTCDataChannel = Unavailable
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate, RTCDataChannel }
`)
  return cli
}

/** GET a path on 127.0.0.1:port; resolves to the status and body, or undefined when nothing answers. */
async function get (port: number, path: string): Promise<{ status: number, body: Buffer } | undefined> {
  return await new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }) })
      res.on('error', () => { resolve(undefined) })
    })
    req.on('error', () => { resolve(undefined) })
    req.on('timeout', () => { req.destroy(); resolve(undefined) })
    req.end()
  })
}

function announcePath (peer: number): string {
  return `/announce?info_hash=${urlEncodeHex(INFO_HASH)}&peer_id=-CHK001-${String(peer).padStart(12, '0')}` +
    `&port=${1024 + peer}&uploaded=0&downloaded=0&left=1073741824&compact=1&numwant=50`
}

/** Waits until the tracker answers an announce with a bencoded peer list (not a failure). */
async function waitReady (name: Name, port: number, bg: Bg): Promise<void> {
  const deadline = Date.now() + 15_000
  let last = ''
  while (Date.now() < deadline) {
    if (bg.proc.exitCode !== null) throw new Error(`${name} exited: ${bg.out().slice(-2000)}`)
    const reply = await get(port, announcePath(1))
    if (reply !== undefined) {
      last = reply.body.toString('latin1')
      if (reply.status === 200 && last.startsWith('d') && last.includes('5:peers') && !last.includes('failure reason')) return
    }
    await sleep(100)
  }
  throw new Error(`${name} did not answer an announce on port ${port} within 15 s (last reply: ${last.slice(0, 200)})`)
}

async function start (name: Name, dir: string, fillHashes: boolean): Promise<Running> {
  const port = await freePort()
  let bg: Bg
  if (name === 'ours') {
    const extra = (process.env.P2PSHARE_TRACKER_ARGS ?? '--rate-limit off').split(' ').filter((a) => a !== '')
    bg = startBg(process.execPath, [CLI, 'tracker', '--host', '127.0.0.1', '--port', String(port),
      '--db', join(dir, `ours-${port}.db`), '--probe-interval', '0', ...extra], dir, join(dir, `ours-${port}.log`))
  } else if (name === 'opentracker') {
    // Debian's opentracker serves whitelisted info hashes only, chroots to its root before reading the list (so the
    // path is relative to it), and will not keep root privileges (hence -u nobody, and a root nobody can read).
    const root = join(dir, `ot-${port}`)
    mkdirSync(root, { recursive: true, mode: 0o755 })
    const hashes = [INFO_HASH]
    if (fillHashes) {
      for (let s = 0; s < swarmCount; s++) hashes.push(s.toString(16).padStart(8, '0') + FILL_TAIL)
    }
    writeFileSync(join(root, 'whitelist.txt'), hashes.join('\n') + '\n', { mode: 0o644 })
    writeFileSync(join(root, 'ot.conf'), `tracker.rootdir ${root}\naccess.whitelist whitelist.txt\n`, { mode: 0o644 })
    bg = startBg('opentracker', ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-f', join(root, 'ot.conf'), '-u', 'nobody'], dir)
  } else {
    bg = startBg(process.execPath, [btTrackerCli(), '--http', '--udp', '--http-hostname', '127.0.0.1', '--udp-hostname', '127.0.0.1',
      '--udp6-hostname', '::1', '--port', String(port), '--silent'], dir)
  }
  await waitReady(name, port, bg)
  return { bg, port, pid: bg.proc.pid as number }
}

function toMs (text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text ?? '')
  if (m === null) return Number.NaN
  const value = Number(m[1])
  return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value
}

function wrk (dir: string, url: string, script: string | undefined, secs: number, env: Record<string, string> = {}): WrkResult {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${secs}s`, '--latency', ...(script === undefined ? [] : ['-s', script]), url]
  const out = execFileSync('wrk', args, { cwd: dir, env: { ...process.env, ...env }, timeout: (secs + 30) * 1000 }).toString()
  const errors = out.split('\n').filter((l) => /Socket errors|Non-2xx/.test(l)).map((l) => l.trim()).join('; ')
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN),
    p50: toMs(/ 50%\s+(\S+)/.exec(out)?.[1]),
    p99: toMs(/ 99%\s+(\S+)/.exec(out)?.[1]),
    errors
  }
}

function writeScripts (dir: string): { rand: string, paced: string } {
  // Each request announces a new peer (peer id and port) of one swarm, as the anchors' wrk-randpeer.lua.
  const body = `
local counter = 0
local ih = "${urlEncodeHex(INFO_HASH)}"
request = function()
  counter = counter + 1
  local pid = string.format("-WK0001-%012d", (counter * 7919 + math.random(0, 999999)) % 1000000000000)
  local port = 1024 + (counter % 60000)
  return wrk.format("GET", "/announce?info_hash=" .. ih .. "&peer_id=" .. pid .. "&port=" .. port ..
    "&uploaded=0&downloaded=0&left=1073741824&compact=1&numwant=50")
end
`
  const rand = join(dir, 'randpeer.lua')
  writeFileSync(rand, body)
  // The same, each connection waiting WRK_DELAY_MS (fractional: rounded up or down at random) before each request.
  const paced = join(dir, 'paced.lua')
  writeFileSync(paced, body + `
local d = tonumber(os.getenv("WRK_DELAY_MS"))
delay = function()
  local base = math.floor(d)
  if math.random() < d - base then return base + 1 end
  return base
end
`)
  return { rand, paced }
}

function udpLoad (port: number, extra: string[], limitMs: number): { rate: number, replies: number, errors: number, timeouts: number, seconds: number, firstError: string } {
  const out = execFileSync(process.execPath, [join(ROOT, 'dist', 'bench', 'udp-load.js'), '--port', String(port), ...extra], { timeout: limitMs }).toString()
  return JSON.parse(out.trim().split('\n').pop() as string)
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  // After the command name: utime and stime are fields 14 and 15 of stat(5), here 12 and 13 (0-based, from state).
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

function memoryOf (pid: number): { rssMiB: number, hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN)
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 }
}

interface Row { http: number[], httpP50: number[], httpP99: number[], same: number[], udp: number[], httpCpuUs: number[], udpCpuUs: number[], httpErrors: string, udpTimeouts: number, udpErrors: number }

async function main (): Promise<number> {
  if (!(seconds >= 1 && seconds <= 120 && runs >= 1 && runs <= 10)) throw new Error('--seconds 1-120, --runs 1-10')
  const names = (['ours', 'opentracker', 'bittorrent-tracker'] as const).filter((n) => only.includes(n))
  const machine = machineLine()
  return await withTempDir('p2p-tracker-bench-', async (dir) => {
    process.stderr.write(`bench: ${machine}\n`)
    const scripts = writeScripts(dir)
    const rows = new Map<Name, Row>(names.map((n) => [n, { http: [], httpP50: [], httpP99: [], same: [], udp: [], httpCpuUs: [], udpCpuUs: [], httpErrors: '', udpTimeouts: 0, udpErrors: 0 }]))
    for (let run = 1; run <= runs; run++) {
      for (const name of names) {
        const row = rows.get(name) as Row
        let t = await start(name, dir, false)
        const same = wrk(dir, `http://127.0.0.1:${t.port}${announcePath(7)}`, undefined, seconds)
        await t.bg.stop(3000)
        t = await start(name, dir, false)
        let cpu = cpuSeconds(t.pid)
        const rand = wrk(dir, `http://127.0.0.1:${t.port}/announce`, scripts.rand, seconds)
        row.httpCpuUs.push((cpuSeconds(t.pid) - cpu) * 1e6 / rand.requests)
        await t.bg.stop(3000)
        t = await start(name, dir, false)
        cpu = cpuSeconds(t.pid)
        const udp = udpLoad(t.port, ['--seconds', String(seconds), '--info-hash', INFO_HASH], (seconds + 30) * 1000)
        row.udpCpuUs.push((cpuSeconds(t.pid) - cpu) * 1e6 / Math.max(1, udp.replies))
        await t.bg.stop(3000)
        row.same.push(same.rps)
        row.http.push(rand.rps)
        row.httpP50.push(rand.p50)
        row.httpP99.push(rand.p99)
        row.udp.push(udp.rate)
        if (rand.errors !== '') row.httpErrors = rand.errors
        row.udpTimeouts += udp.timeouts
        row.udpErrors += udp.errors
        process.stderr.write(`bench: run ${run} ${LABEL[name]}: same peer ${same.rps.toFixed(0)}/s, new peers ${rand.rps.toFixed(0)}/s ` +
          `(p50 ${rand.p50} ms, p99 ${rand.p99} ms), UDP ${udp.rate.toFixed(0)}/s\n`)
      }
    }

    // Latency at half of our peak (new peers), for every tracker at that same offered rate.
    const ours = rows.get('ours')
    const paced = new Map<Name, WrkResult>()
    let target = Number.NaN
    if (ours !== undefined) {
      target = median(ours.http) / 2
      for (const name of names) {
        const t = await start(name, dir, false)
        let delayMs = Math.max(0, (CONNECTIONS / target) * 1000 - 0.5)
        const probe = wrk(dir, `http://127.0.0.1:${t.port}/announce`, scripts.paced, 3, { WRK_DELAY_MS: String(delayMs) })
        delayMs = Math.max(0, delayMs + (CONNECTIONS / target - CONNECTIONS / probe.rps) * 1000)
        paced.set(name, wrk(dir, `http://127.0.0.1:${t.port}/announce`, scripts.paced, seconds, { WRK_DELAY_MS: String(delayMs) }))
        await t.bg.stop(3000)
        const p = paced.get(name) as WrkResult
        process.stderr.write(`bench: ${LABEL[name]} paced at ${p.rps.toFixed(0)}/s: p50 ${p.p50} ms, p99 ${p.p99} ms\n`)
      }
    }

    // Memory: swarms × peers over UDP.
    const memory = new Map<Name, { rssMiB: number, hwmMiB: number, seconds: number, replies: number, errors: number }>()
    if (!skipMemory) {
      for (const name of names.filter((n) => n !== 'bittorrent-tracker')) {
        const t = await start(name, dir, true)
        const fill = udpLoad(t.port, ['--mode', 'fill', '--swarms', String(swarmCount), '--peers-per-swarm', String(peersPerSwarm), '--window', '256'], 700_000)
        await sleep(500)
        memory.set(name, { ...memoryOf(t.pid), seconds: fill.seconds, replies: fill.replies, errors: fill.errors })
        await t.bg.stop(3000)
        const m = memory.get(name)
        process.stderr.write(`bench: ${LABEL[name]} holding ${swarmCount * peersPerSwarm} peers: RSS ${m?.rssMiB.toFixed(0)} MiB (peak ${m?.hwmMiB.toFixed(0)}), ${fill.replies} replies, ${fill.errors} errors in ${fill.seconds.toFixed(1)} s\n`)
      }
    }

    const table = report(names, rows, paced, target, memory, machine)
    process.stdout.write(table.text)
    if (record) {
      const out = join(ROOT, 'bench', 'results')
      mkdirSync(out, { recursive: true })
      writeFileSync(join(out, 'tracker.md'), table.text)
      writeFileSync(join(out, 'tracker.json'), JSON.stringify({ machine, seconds, runs, rows: Object.fromEntries(rows), paced: Object.fromEntries(paced), target, memory: Object.fromEntries(memory) }, null, 2) + '\n')
    }
    return table.met ? 0 : 2
  })
}

function report (names: readonly Name[], rows: Map<Name, Row>, paced: Map<Name, WrkResult>, target: number,
  memory: Map<Name, { rssMiB: number, hwmMiB: number, seconds: number, replies: number, errors: number }>, machine: string): { text: string, met: boolean } {
  const lines: string[] = []
  const m = (name: Name, key: 'http' | 'same' | 'udp'): number => median(rows.get(name)?.[key] ?? [])
  lines.push('# Tracker load', '', `${new Date().toISOString().slice(0, 10)}; ${machine}; wrk -t2 -c${CONNECTIONS} -d${seconds}s, UDP: bench/udp-load.ts (4 sockets x 64 in flight); median of ${runs} run(s).`, '')
  lines.push('| tracker | HTTP new peer /s | p50 / p99 ms | tracker CPU µs per HTTP announce | HTTP same peer /s | UDP new peer /s | tracker CPU µs per UDP announce | notes |', '|---|---|---|---|---|---|---|---|')
  for (const name of names) {
    const row = rows.get(name) as Row
    const notes = [row.httpErrors === '' ? '' : `wrk (last run): ${row.httpErrors}`, `UDP: ${row.udpTimeouts} timeouts, ${row.udpErrors} error replies in all runs`]
    lines.push(`| ${LABEL[name]} | ${m(name, 'http').toFixed(0)} | ${median(row.httpP50).toFixed(2)} / ${median(row.httpP99).toFixed(2)} | ${median(row.httpCpuUs).toFixed(1)} | ${m(name, 'same').toFixed(0)} | ${m(name, 'udp').toFixed(0)} | ${median(row.udpCpuUs).toFixed(1)} | ${notes.filter((n) => n !== '').join('; ')} |`)
  }
  lines.push('')
  if (paced.size > 0) {
    lines.push(`Latency at half of p2pshare's peak new-peer rate (offered about ${target.toFixed(0)}/s, wrk paced by a per-request delay):`, '',
      '| tracker | achieved /s | p50 ms | p99 ms |', '|---|---|---|---|')
    for (const [name, p] of paced) lines.push(`| ${LABEL[name]} | ${p.rps.toFixed(0)} | ${p.p50.toFixed(2)} | ${p.p99.toFixed(2)} |`)
    lines.push('')
  }
  if (memory.size > 0) {
    lines.push(`Memory holding ${swarmCount * peersPerSwarm} peers in ${swarmCount} swarms (announced over UDP):`, '',
      '| tracker | RSS MiB | peak RSS MiB | fill time s | replies | errors |', '|---|---|---|---|---|---|')
    for (const [name, mem] of memory) lines.push(`| ${LABEL[name]} | ${mem.rssMiB.toFixed(0)} | ${mem.hwmMiB.toFixed(0)} | ${mem.seconds.toFixed(1)} | ${mem.replies} | ${mem.errors} |`)
    lines.push('')
  }
  const targets: Array<[string, boolean | undefined, string]> = []
  const ratio = (a: number, b: number): string => (a / b).toFixed(2)
  if (rows.has('ours') && rows.has('opentracker')) {
    targets.push(['HTTP new peer >= 1.3x opentracker', m('ours', 'http') >= 1.3 * m('opentracker', 'http'), `${ratio(m('ours', 'http'), m('opentracker', 'http'))}x`])
    targets.push(['UDP new peer >= opentracker', m('ours', 'udp') >= m('opentracker', 'udp'), `${ratio(m('ours', 'udp'), m('opentracker', 'udp'))}x`])
  }
  if (rows.has('ours') && rows.has('bittorrent-tracker')) {
    targets.push(['HTTP new peer >= 5x bittorrent-tracker', m('ours', 'http') >= 5 * m('bittorrent-tracker', 'http'), `${ratio(m('ours', 'http'), m('bittorrent-tracker', 'http'))}x`])
  }
  const p = paced.get('ours')
  if (p !== undefined) targets.push(['p99 < 10 ms at half peak', p.p99 < 10, `${p.p99.toFixed(2)} ms at ${p.rps.toFixed(0)}/s`])
  const mem = memory.get('ours')
  if (mem !== undefined) {
    const full = mem.replies >= swarmCount * peersPerSwarm && mem.errors === 0
    targets.push([`${swarmCount * peersPerSwarm} peers in < 1 GiB RSS`, full && mem.hwmMiB < 1024, `${mem.hwmMiB.toFixed(0)} MiB peak${full ? '' : ' (not every announce was accepted)'}`])
  }
  lines.push('| target | result | met |', '|---|---|---|')
  for (const [what, met, value] of targets) lines.push(`| ${what} | ${value} | ${met === true ? 'yes' : 'no'} |`)
  lines.push('')
  return { text: lines.join('\n'), met: targets.every(([, met]) => met === true) }
}

runMain(main)
