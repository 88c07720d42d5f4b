/**
 * The node (`p2pshare node`) beside transmission-daemon 3.00 and libtorrent 2.0 in the same run:
 *
 *   node dist/bench/node.js [--count N] [--size MiB] [--restarts N] [--idle-count N] [--idle-seconds S]
 *                           [--clients p2pshare,transmission,libtorrent] [--skip-restart] [--skip-idle]
 *                           [--keep-cache] [--ours-with-tracker] [--record]
 *
 * (a) Restart: each client is given `--count` (20) complete files of `--size` (512) MiB, 10 GiB in all, waits until
 * every torrent is seeding (a full check), and is stopped cleanly. Then, `--restarts` (3) times, interleaved
 * (p2pshare, Transmission, libtorrent, then again): a fresh process is spawned and timed from the spawn until its API
 * reports every torrent seeding, polled every 20 ms (ours: GET /api/v1/torrents, then /api/v1/stats' piecesChecked;
 * Transmission: torrent-get over its RPC; libtorrent: torrent_status.state, polled by bench/lt_node.py itself, the
 * time taken from the spawn to its SEEDING line), then stopped cleanly again (SIGINT; SIGTERM; resume data saved).
 * The files are random bytes, generated once into a cache folder under the temp dir, removed at the end unless
 * --keep-cache (a kept cache is reused by the next run). Nothing is dropped from the page cache: every client reads
 * warm files.
 *
 * (b) Idle: `--idle-count` (100) files of 1 MiB, every one seeding, no peer, no tracker: a process's CPU time (utime +
 * stime from /proc/PID/stat) over `--idle-seconds` (60) after 10 s of settling, and its VmRSS at the end. With
 * --ours-with-tracker, our node is measured a second time started with `--tracker` (a p2pshare tracker on 127.0.0.1,
 * announce interval 1800 s), so that its torrents have a tracker: a diagnostic row, not in the ratios.
 *
 * Everything on 127.0.0.1; no tracker; DHT, LSD, PEX, uTP, UPnP/NAT-PMP off in Transmission and libtorrent (ours has
 * none). Every wait has a deadline; every process is stopped at the end, on failure and on Ctrl+C.
 */
import { execFile, execFileSync, spawnSync, type ChildProcess } from 'node:child_process'
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { freemem, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { pieceLengthFor } from '../src/index.js'
import { arg, CLI, flag, freePort, machineLine, median, MiB, PYTHON, ROOT, runMain, sleep, startBg, startTracker, withTempDir, writeRandom, type Bg } from './lib.js'

const count = Number(arg('--count', '20'))
const sizeMiB = Number(arg('--size', '512'))
const restarts = Number(arg('--restarts', '3'))
const idleCount = Number(arg('--idle-count', '100'))
const idleSeconds = Number(arg('--idle-seconds', '60'))
const clientArg = arg('--clients', 'p2pshare,transmission,libtorrent')
const skipRestart = flag('--skip-restart')
const skipIdle = flag('--skip-idle')
const keepCache = flag('--keep-cache')
const oursWithTracker = flag('--ours-with-tracker')
const record = flag('--record')

type Client = 'p2pshare' | 'transmission' | 'libtorrent'
const CLIENTS: Client[] = ['p2pshare', 'transmission', 'libtorrent']
const LT_NODE = join(ROOT, 'bench', 'lt_node.py')
/** Size of each idle torrent's file. */
const IDLE_FILE_BYTES = MiB
/** How often the bench asks a client whether everything is seeding. */
const POLL_MS = 20
/** Spawn to every torrent seeding after a restart, at most. */
const RESTART_DEADLINE_MS = 120_000
/** A clean stop (resume data written), at most; past it the process is killed and the bench fails. */
const STOP_DEADLINE_MS = 60_000
/** Quiet time between "everything is seeding" and the start of the idle window. */
const SETTLE_MS = 10_000
/** One API or RPC request, at most. */
const REQUEST_TIMEOUT_MS = 10_000
/** Adding one local file to our node (it hashes the file before answering), at most. */
const ADD_TIMEOUT_MS = 120_000
/** Free space kept beyond the cache, bytes. */
const SPARE_BYTES = 2 * 1024 * MiB
/** Linux clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())
/** Transmission's torrent status codes (RPC spec): 0 stopped, 1 check wait, 2 checking, 3/4 download wait/downloading, 5/6 seed wait/seeding. */
const TR_STATUS = ['stopped', 'check-wait', 'checking', 'download-wait', 'downloading', 'seed-wait', 'seeding']
const TR_SEEDING = 6

// ---- small helpers ----

function fail (what: string, bg: Bg | undefined, detail: string): never {
  throw new Error(`${what}: ${detail}${bg === undefined ? '' : `\n--- its output (tail) ---\n${bg.out().slice(-3000)}`}`)
}

function exited (proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null
}

/** Resolves true once the process exited, false after `ms`. */
async function waitExit (proc: ChildProcess, ms: number): Promise<boolean> {
  if (exited(proc)) return true
  let timer: NodeJS.Timeout | undefined
  const result = await Promise.race([
    new Promise<boolean>(resolve => proc.once('exit', () => { resolve(true) })),
    new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
  ])
  clearTimeout(timer)
  return result
}

/** Send `signal`, wait for the exit (bounded); seconds it took. Fails the bench if the process had to be killed. */
async function stopCleanly (what: string, bg: Bg, signal: NodeJS.Signals): Promise<number> {
  const started = performance.now()
  bg.kill(signal)
  if (!await waitExit(bg.proc, STOP_DEADLINE_MS)) {
    bg.kill('SIGKILL')
    await waitExit(bg.proc, 5000)
    fail(what, bg, `did not exit within ${STOP_DEADLINE_MS / 1000} s of ${signal}; killed`)
  }
  return (performance.now() - started) / 1000
}

/**
 * Call `probe` every POLL_MS until it returns a value; bounded by `deadlineMs` and by a count of tries. Fails if the
 * process exits first.
 */
async function pollUntil<T> (what: string, bg: Bg, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = performance.now() + deadlineMs
  const maxTries = Math.ceil(deadlineMs / POLL_MS) + 1
  for (let i = 0; i < maxTries && performance.now() < end; i++) {
    if (exited(bg.proc)) fail(what, bg, `exited (${String(bg.proc.exitCode ?? bg.proc.signalCode)}) while the bench waited`)
    const value = await probe()
    if (value !== undefined) return value
    await sleep(POLL_MS)
  }
  fail(what, bg, `not done within ${deadlineMs / 1000} s`)
}

async function run (cmd: string, args: string[], ms: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: ms, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds (pid: number): number {
  // After the command name (in parentheses, may hold spaces): utime and stime are fields 14 and 15 of stat(5).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

function rssMiB (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024
}

async function readThrough (path: string): Promise<void> {
  for await (const _chunk of createReadStream(path, { highWaterMark: 1 << 20 })) { /* page cache only */ }
}

const secs = (x: number | undefined, digits = 2): string => x === undefined || Number.isNaN(x) ? '—' : `${x.toFixed(digits)} s`

// ---- the files ----

interface FileSet { dir: string, files: string[], torrents: string[], reused: boolean, pieceLength: number }

/**
 * `n` files of `bytes` random bytes in `dir` and a trackerless .torrent of each made by transmission-create (with our
 * default piece length for that size), for Transmission and libtorrent. A complete set (marked `.complete`) is reused.
 */
async function fileSet (dir: string, n: number, bytes: number, prefix: string): Promise<FileSet> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}.bin`)
  const files = names.map(name => join(dir, name))
  const torrentDir = join(dir, '.torrents')
  const torrents = names.map(name => join(torrentDir, `${name}.torrent`))
  const pieceLength = pieceLengthFor(bytes)
  const marker = join(dir, '.complete')
  const complete = existsSync(marker) && files.every(f => existsSync(f) && statSync(f).size === bytes) && torrents.every(t => existsSync(t))
  if (!complete) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(torrentDir, { recursive: true })
    process.stderr.write(`bench: generating ${n} files of ${bytes / MiB} MiB in ${dir}\n`)
    for (const file of files) await writeRandom(file, bytes)
    for (let i = 0; i < n; i++) {
      await run('transmission-create', ['-s', String(pieceLength / 1024), '-o', torrents[i] as string, files[i] as string], 300_000)
    }
    writeFileSync(marker, `${n} x ${bytes} bytes, piece length ${pieceLength}\n`)
  } else {
    process.stderr.write(`bench: reusing ${n} files of ${bytes / MiB} MiB in ${dir} (kept by an earlier --keep-cache run)\n`)
  }
  for (const file of files) await readThrough(file) // every client reads warm files
  return { dir, files, torrents, reused: complete, pieceLength }
}

// ---- p2pshare node ----

interface TorrentSummary { id: number, infoHash: string, name: string, state: string, progress: number }

class OurNode {
  readonly api: string
  constructor (readonly cwd: string, readonly dataDir: string, readonly port: number, readonly apiPort: number, readonly extraArgs: string[] = []) {
    this.api = `http://127.0.0.1:${apiPort}/api/v1`
  }

  start (): Bg {
    return startBg(process.execPath, [CLI, 'node', '--port', String(this.port), '--host', '127.0.0.1', '--api-port', String(this.apiPort), '--data-dir', this.dataDir, ...this.extraArgs], this.cwd)
  }

  async list (): Promise<TorrentSummary[] | undefined> {
    try {
      const res = await fetch(`${this.api}/torrents`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
      if (!res.ok) return undefined
      return ((await res.json()) as { torrents: TorrentSummary[] }).torrents
    } catch {
      return undefined // not listening yet
    }
  }

  async piecesChecked (): Promise<number> {
    const res = await fetch(`${this.api}/stats`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    if (!res.ok) throw new Error(`GET /api/v1/stats: HTTP ${res.status} ${await res.text()}`)
    return ((await res.json()) as { current: { piecesChecked: number } }).current.piecesChecked
  }

  async add (path: string): Promise<void> {
    const res = await fetch(`${this.api}/torrents`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ path }),
      signal: AbortSignal.timeout(ADD_TIMEOUT_MS)
    })
    if (res.status !== 201) throw new Error(`POST /api/v1/torrents ${path}: HTTP ${res.status} ${await res.text()}`)
  }

  async allSeeding (n: number, seen?: Set<string>): Promise<true | undefined> {
    const list = await this.list()
    if (list === undefined) return undefined
    for (const t of list) seen?.add(t.state)
    const bad = list.find(t => t.state === 'error')
    if (bad !== undefined) throw new Error(`p2pshare: torrent ${bad.name} in state error`)
    return list.length === n && list.every(t => t.state === 'seeding') ? true : undefined
  }
}

// ---- transmission-daemon ----

interface TrTorrent { id: number, name: string, status: number, percentDone: number, error: number, errorString: string }

class Transmission {
  readonly rpc: string
  readonly confDir: string
  #sessionId = ''
  constructor (readonly cwd: string, name: string, readonly downloadDir: string, readonly peerPort: number, readonly rpcPort: number) {
    this.rpc = `http://127.0.0.1:${rpcPort}/transmission/rpc`
    this.confDir = join(cwd, name)
    mkdirSync(this.confDir, { recursive: true })
    // As ../shared/anchors/tr_lib.sh: loopback only, no DHT/LPD/PEX/uTP/port forwarding, no limits or queues.
    writeFileSync(join(this.confDir, 'settings.json'), JSON.stringify({
      'bind-address-ipv4': '127.0.0.1',
      'bind-address-ipv6': '::1',
      'rpc-enabled': true,
      'rpc-bind-address': '127.0.0.1',
      'rpc-port': rpcPort,
      'rpc-authentication-required': false,
      'rpc-whitelist-enabled': true,
      'rpc-whitelist': '127.0.0.1',
      'rpc-host-whitelist-enabled': false,
      'peer-port': peerPort,
      'peer-port-random-on-start': false,
      'port-forwarding-enabled': false,
      'dht-enabled': false,
      'lpd-enabled': false,
      'pex-enabled': false,
      'utp-enabled': false,
      'blocklist-enabled': false,
      encryption: 0,
      'download-dir': downloadDir,
      'incomplete-dir-enabled': false,
      'watch-dir-enabled': false,
      'rename-partial-files': false,
      'start-added-torrents': true,
      'speed-limit-up-enabled': false,
      'speed-limit-down-enabled': false,
      'alt-speed-enabled': false,
      'ratio-limit-enabled': false,
      'idle-seeding-limit-enabled': false,
      'download-queue-enabled': false,
      'seed-queue-enabled': false,
      'queue-stalled-enabled': false,
      'message-level': 1
    }, null, 2))
  }

  start (): Bg {
    return startBg('transmission-daemon', ['-f', '-g', this.confDir], this.cwd)
  }

  /** One RPC call, with the X-Transmission-Session-Id handshake (a 409 carries the id to send). */
  async call<T> (method: string, args: Record<string, unknown>): Promise<T> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(this.rpc, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Transmission-Session-Id': this.#sessionId },
        body: JSON.stringify({ method, arguments: args }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
      if (res.status === 409) {
        this.#sessionId = res.headers.get('x-transmission-session-id') ?? ''
        await res.arrayBuffer()
        continue
      }
      const body = await res.json() as { result: string, arguments: T }
      if (body.result !== 'success') throw new Error(`transmission ${method}: ${body.result}`)
      return body.arguments
    }
    throw new Error(`transmission ${method}: no session id after a 409`)
  }

  async torrents (): Promise<TrTorrent[] | undefined> {
    try {
      return (await this.call<{ torrents: TrTorrent[] }>('torrent-get', { fields: ['id', 'name', 'status', 'percentDone', 'error', 'errorString'] })).torrents
    } catch {
      return undefined // not listening yet
    }
  }

  async add (torrent: string): Promise<void> {
    const r = await this.call<Record<string, unknown>>('torrent-add', { filename: torrent, 'download-dir': this.downloadDir, paused: false })
    if (r['torrent-added'] === undefined && r['torrent-duplicate'] === undefined) throw new Error(`transmission torrent-add ${torrent}: ${JSON.stringify(r)}`)
  }

  async allSeeding (n: number, seen?: Set<string>): Promise<true | undefined> {
    const list = await this.torrents()
    if (list === undefined) return undefined
    for (const t of list) seen?.add(TR_STATUS[t.status] ?? String(t.status))
    const bad = list.find(t => t.error === 3)
    if (bad !== undefined) throw new Error(`transmission: ${bad.name}: ${bad.errorString}`)
    return list.length === n && list.every(t => t.status === TR_SEEDING && t.percentDone === 1) ? true : undefined
  }
}

// ---- libtorrent (bench/lt_node.py) ----

interface LtResult { seconds: number, scriptMs: number, checkingMs: number, states: string[], version: string, bg: Bg }

/** Run lt_node.py in `mode`; resolves at its SEEDING line (spawn to that line's arrival), the process still running. */
async function ltNode (mode: 'first' | 'resume' | 'idle', cwd: string, saveDir: string, resumeDir: string, torrents: string[], deadlineMs: number): Promise<LtResult> {
  const started = performance.now()
  const bg = startBg(PYTHON, ['-u', LT_NODE, mode, String(await freePort()), saveDir, resumeDir, ...torrents, '--max-seconds', String(deadlineMs / 1000 + (mode === 'idle' ? 3600 : 60))], cwd)
  let seededAt: number | undefined
  bg.onLine((line, at) => { if (seededAt === undefined && line.startsWith('SEEDING ')) seededAt = at })
  const line = await bg.waitFor(/^(SEEDING .*)$/m, deadlineMs).catch((err: unknown) => fail(`libtorrent ${mode}`, bg, String(err)))
  const field = (key: string): string => new RegExp(`${key}=(\\S+)`).exec(line)?.[1] ?? ''
  if (field('ok') !== 'True') fail(`libtorrent ${mode}`, bg, line)
  return {
    seconds: ((seededAt ?? performance.now()) - started) / 1000,
    scriptMs: Number(field('ms')),
    checkingMs: Number(field('checking_ms')),
    states: field('states').split(','),
    version: /VERSION (\S+)/.exec(bg.out())?.[1] ?? '?',
    bg
  }
}

/** Wait for lt_node.py to write its resume data and exit 0. */
async function ltSaved (what: string, lt: LtResult): Promise<void> {
  await lt.bg.waitFor(/(SAVED \d+)/, STOP_DEADLINE_MS).catch((err: unknown) => fail(what, lt.bg, String(err)))
  if (!await waitExit(lt.bg.proc, STOP_DEADLINE_MS) || lt.bg.proc.exitCode !== 0) fail(what, lt.bg, `exit ${String(lt.bg.proc.exitCode ?? lt.bg.proc.signalCode)}`)
}

// ---- (a) restart ----

interface RestartRun {
  seconds: number
  /** Spawn to the first answer of its API/RPC (ours also: to its "Press Ctrl+C to stop." line). */
  firstAnswer?: number
  readyLine?: number
  /** States seen while polling (a check would show). */
  states: string[]
  /** Ours: /api/v1/stats current.piecesChecked once all seed. */
  piecesChecked?: number
  /** libtorrent: time some torrent spent in checking_files (its own 20 ms polls). */
  checkingMs?: number
  stopSeconds?: number
}

interface RestartResult { client: Client, initial: number, initialNote: string, runs: RestartRun[], notes: string[] }

async function restartBench (dir: string, set: FileSet, clients: Client[]): Promise<RestartResult[]> {
  const n = set.files.length
  const initialDeadline = 120_000 + n * sizeMiB * 200 // 0.2 s per MiB: a slow check of everything
  const results: RestartResult[] = []
  const steps: Array<() => Promise<void>> = []

  if (clients.includes('p2pshare')) {
    const node = new OurNode(dir, join(dir, 'p2pshare-data'), await freePort(), await freePort())
    const result: RestartResult = { client: 'p2pshare', initial: 0, initialNote: '', runs: [], notes: [] }
    results.push(result)
    // Prepare: add every path, wait for all seeding (each file hashed once), stop cleanly.
    const bg = node.start()
    await bg.waitFor(/(Press Ctrl\+C to stop\.)/, 60_000)
    const t0 = performance.now()
    for (const file of set.files) await node.add(file)
    await pollUntil('p2pshare: first add', bg, initialDeadline, async () => await node.allSeeding(n))
    result.initial = (performance.now() - t0) / 1000
    result.initialNote = `piecesChecked ${await node.piecesChecked()}`
    await stopCleanly('p2pshare', bg, 'SIGINT')
    steps.push(async () => {
      const seen = new Set<string>()
      const started = performance.now()
      const bg = node.start()
      const r: RestartRun = { seconds: 0, states: [] }
      bg.onLine((line, at) => { if (r.readyLine === undefined && line.includes('Press Ctrl+C to stop.')) r.readyLine = (at - started) / 1000 })
      await pollUntil('p2pshare restart', bg, RESTART_DEADLINE_MS, async () => {
        const list = await node.list()
        if (list === undefined) return undefined
        r.firstAnswer ??= (performance.now() - started) / 1000
        for (const t of list) seen.add(t.state)
        return list.length === n && list.every(t => t.state === 'seeding') ? true : undefined
      })
      r.seconds = (performance.now() - started) / 1000
      r.piecesChecked = await node.piecesChecked()
      r.states = [...seen]
      r.stopSeconds = await stopCleanly('p2pshare', bg, 'SIGINT')
      if (!bg.out().includes('Node stopped.')) fail('p2pshare', bg, 'exited without "Node stopped."')
      const note = oursNote(bg)
      if (note !== undefined && !result.notes.includes(note)) result.notes.push(note)
      result.runs.push(r)
    })
  }

  if (clients.includes('transmission')) {
    const tr = new Transmission(dir, 'transmission', set.dir, await freePort(), await freePort())
    const result: RestartResult = { client: 'transmission', initial: 0, initialNote: '', runs: [], notes: [] }
    results.push(result)
    const bg = tr.start()
    await pollUntil('transmission start', bg, 30_000, async () => await tr.torrents())
    const t0 = performance.now()
    for (const t of set.torrents) await tr.add(t)
    const seen = new Set<string>()
    await pollUntil('transmission: first add', bg, initialDeadline, async () => await tr.allSeeding(n, seen))
    result.initial = (performance.now() - t0) / 1000
    result.initialNote = `states ${[...seen].join(', ')}`
    await stopCleanly('transmission', bg, 'SIGTERM')
    steps.push(async () => {
      const seen = new Set<string>()
      const started = performance.now()
      const bg = tr.start()
      const r: RestartRun = { seconds: 0, states: [] }
      await pollUntil('transmission restart', bg, RESTART_DEADLINE_MS, async () => {
        const list = await tr.torrents()
        if (list === undefined) return undefined
        r.firstAnswer ??= (performance.now() - started) / 1000
        for (const t of list) seen.add(TR_STATUS[t.status] ?? String(t.status))
        return list.length === n && list.every(t => t.status === TR_SEEDING && t.percentDone === 1) ? true : undefined
      })
      r.seconds = (performance.now() - started) / 1000
      r.states = [...seen]
      r.stopSeconds = await stopCleanly('transmission', bg, 'SIGTERM')
      result.runs.push(r)
    })
  }

  if (clients.includes('libtorrent')) {
    const resumeDir = join(dir, 'libtorrent-resume')
    mkdirSync(resumeDir)
    const result: RestartResult = { client: 'libtorrent', initial: 0, initialNote: '', runs: [], notes: [] }
    results.push(result)
    const first = await ltNode('first', dir, set.dir, resumeDir, set.torrents, initialDeadline)
    result.initial = first.scriptMs / 1000
    result.initialNote = `checking_files ${(first.checkingMs / 1000).toFixed(2)} s, libtorrent ${first.version}`
    await ltSaved('libtorrent first', first)
    steps.push(async () => {
      const lt = await ltNode('resume', dir, set.dir, resumeDir, set.torrents, RESTART_DEADLINE_MS)
      await ltSaved('libtorrent resume', lt)
      result.runs.push({ seconds: lt.seconds, states: lt.states, checkingMs: lt.checkingMs })
    })
  }

  for (let i = 0; i < restarts; i++) {
    for (const step of steps) await step()
    process.stderr.write(`  restart ${i + 1}: ${results.map(r => `${r.client} ${secs(r.runs[i]?.seconds, 3)}`).join(', ')}\n`)
  }
  return results
}

// ---- (b) idle ----

interface IdleResult { client: string, torrents: number, cpuSeconds: number, windowSeconds: number, rssMiB: number, note?: string }

/** What our node printed that a bench reader should know of (it is silent by default). */
function oursNote (bg: Bg): string | undefined {
  const out = bg.out()
  if (out.includes('TimeoutOverflowWarning')) return 'printed TimeoutOverflowWarning on stderr ("Infinity does not fit into a 32-bit signed integer. Timeout duration was set to 1."), over and over'
  return /warning/i.test(out) ? 'printed a warning (see its output)' : undefined
}

async function sampleIdle (client: string, bg: Bg, n: number): Promise<IdleResult> {
  const pid = bg.proc.pid
  if (pid === undefined) fail(client, bg, 'no pid')
  const read = <T>(what: string, fn: (pid: number) => T): T => {
    try {
      if (!exited(bg.proc)) return fn(pid)
    } catch { /* gone between the check and the read */ }
    fail(client, bg, `exited (${String(bg.proc.exitCode ?? bg.proc.signalCode)}) ${what}`)
  }
  await sleep(SETTLE_MS)
  const cpu0 = read('while settling', cpuSeconds)
  const t0 = performance.now()
  await sleep(idleSeconds * 1000)
  const cpu1 = read('during the idle window', cpuSeconds)
  const windowSeconds = (performance.now() - t0) / 1000
  return { client, torrents: n, cpuSeconds: cpu1 - cpu0, windowSeconds, rssMiB: read('during the idle window', rssMiB) }
}

async function idleBench (dir: string, clients: Client[]): Promise<IdleResult[]> {
  const set = await fileSet(join(dir, 'idle-files'), idleCount, IDLE_FILE_BYTES, 's')
  const n = set.files.length
  const addDeadline = 120_000 + n * 1000
  const results: IdleResult[] = []
  const ours = async (label: string, dataDir: string, extraArgs: string[]): Promise<void> => {
    const node = new OurNode(dir, join(dir, dataDir), await freePort(), await freePort(), extraArgs)
    const bg = node.start()
    await bg.waitFor(/(Press Ctrl\+C to stop\.)/, 60_000)
    for (const file of set.files) await node.add(file)
    await pollUntil(`${label} idle: add`, bg, addDeadline, async () => await node.allSeeding(n))
    const result = await sampleIdle(label, bg, n)
    const note = oursNote(bg)
    results.push(note === undefined ? result : { ...result, note })
    await stopCleanly(label, bg, 'SIGINT')
  }
  if (clients.includes('p2pshare')) {
    await ours('p2pshare', 'p2pshare-idle', [])
    if (oursWithTracker) {
      // Every request of this bench comes from 127.0.0.1: no per-address rate limit.
      const tracker = await startTracker(dir, ['--rate-limit', 'off'])
      await ours('p2pshare --tracker (diagnostic)', 'p2pshare-idle-tracker', ['--tracker', tracker.url])
      await tracker.bg.stop()
    }
  }
  if (clients.includes('transmission')) {
    const tr = new Transmission(dir, 'transmission-idle', set.dir, await freePort(), await freePort())
    const bg = tr.start()
    await pollUntil('transmission idle: start', bg, 30_000, async () => await tr.torrents())
    for (const t of set.torrents) await tr.add(t)
    await pollUntil('transmission idle: add', bg, addDeadline, async () => await tr.allSeeding(n))
    results.push(await sampleIdle('transmission', bg, n))
    await stopCleanly('transmission', bg, 'SIGTERM')
  }
  if (clients.includes('libtorrent')) {
    const lt = await ltNode('idle', dir, set.dir, join(dir, 'idle-files'), set.torrents, addDeadline)
    await lt.bg.waitFor(/(READY)/, 10_000)
    results.push(await sampleIdle('libtorrent', lt.bg, n))
    await stopCleanly('libtorrent', lt.bg, 'SIGTERM')
  }
  return results
}

// ---- main ----

/** The commit measured, `+ changes` when the work tree differs from it. */
function commit (): string {
  const rev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 10_000 }).stdout?.trim()
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', timeout: 10_000 }).stdout?.trim()
  return `${rev || '?'}${dirty ? ' + uncommitted changes' : ''}`
}

function versions (): string {
  // transmission-daemon prints its version on stderr.
  const tr = spawnSync('transmission-daemon', ['--version'], { encoding: 'utf8', timeout: 10_000 })
  const lt = spawnSync(PYTHON, ['-c', 'import libtorrent as lt; print(lt.__version__)'], { encoding: 'utf8', timeout: 10_000 })
  return `transmission-daemon ${/transmission-daemon (\S+)/.exec(`${tr.stdout ?? ''}${tr.stderr ?? ''}`)?.[1] ?? '?'}, libtorrent ${lt.stdout?.trim() || '?'} (python3-libtorrent, ${PYTHON})`
}

async function main (): Promise<number> {
  if (!(count >= 1 && count <= 100 && sizeMiB >= 1 && sizeMiB <= 4096 && restarts >= 1 && restarts <= 10 && idleCount >= 1 && idleCount <= 500 && idleSeconds >= 1 && idleSeconds <= 600)) {
    throw new Error('--count 1-100, --size 1-4096 MiB, --restarts 1-10, --idle-count 1-500, --idle-seconds 1-600')
  }
  const clients = clientArg.split(',') as Client[]
  if (clients.length === 0 || clients.some(c => !CLIENTS.includes(c))) throw new Error(`--clients: a comma-separated list of ${CLIENTS.join(', ')}`)
  const machine = `${machineLine()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM (${(freemem() / 2 ** 30).toFixed(0)} GiB free), Linux ${release()}`
  const clientVersions = versions()
  process.stderr.write(`bench: ${machine}; ${clientVersions}\n`)

  const cacheRoot = join(tmpdir(), 'p2pshare-bench-cache')
  const cacheDir = join(cacheRoot, `node-${count}x${sizeMiB}MiB`)
  const removeCache = (): void => {
    rmSync(cacheDir, { recursive: true, force: true })
    try { if (readdirSync(cacheRoot).length === 0) rmSync(cacheRoot, { recursive: true, force: true }) } catch { /* gone */ }
  }
  // The cache is this run's to remove only if it uses it (a --skip-restart run leaves a kept cache alone).
  const ownsCache = !keepCache && !skipRestart
  if (ownsCache) process.once('exit', removeCache) // also on failure and Ctrl+C
  try {
    return await withTempDir('p2p-node-bench-', async (dir) => {
      let restart: RestartResult[] = []
      let set: FileSet | undefined
      const mtimes: number[] = []
      if (!skipRestart) {
        mkdirSync(cacheRoot, { recursive: true })
        const need = count * sizeMiB * MiB + SPARE_BYTES
        const s = statfsSync(cacheRoot)
        if (!existsSync(join(cacheDir, '.complete')) && s.bavail * s.bsize < need) {
          throw new Error(`not enough disk under ${cacheRoot}: ${(s.bavail * s.bsize / 2 ** 30).toFixed(1)} GiB free, need ${(need / 2 ** 30).toFixed(1)} GiB`)
        }
        set = await fileSet(cacheDir, count, sizeMiB * MiB, 'f')
        for (const f of set.files) mtimes.push(statSync(f).mtimeMs)
        restart = await restartBench(dir, set, clients)
      }
      const idle = skipIdle ? [] : await idleBench(dir, clients)
      const touched = set === undefined ? [] : set.files.filter((f, i) => statSync(f).mtimeMs !== mtimes[i])
      return report({ machine, clientVersions, restart, idle, set, touched })
    })
  } finally {
    if (ownsCache) removeCache()
  }
}

interface Report { machine: string, clientVersions: string, restart: RestartResult[], idle: IdleResult[], set: FileSet | undefined, touched: string[] }

function report ({ machine, clientVersions, restart, idle, set, touched }: Report): number {
  const date = new Date().toISOString()
  const totalGiB = count * sizeMiB / 1024
  const sections: string[] = []
  const ratios: string[] = []

  if (restart.length > 0) {
    const rows = restart.map(r => ({ ...r, median: median(r.runs.map(x => x.seconds)) }))
    const fastest = Math.min(...rows.map(r => r.median))
    const rehash = (r: RestartResult): string => {
      if (r.client === 'p2pshare') {
        const checked = r.runs.map(x => x.piecesChecked ?? Number.NaN)
        return `${checked.every(c => c === 0) ? 'no' : '**yes**'}: piecesChecked ${checked.join(', ')}; states seen ${[...new Set(r.runs.flatMap(x => x.states))].join(', ')}`
      }
      if (r.client === 'transmission') {
        const states = [...new Set(r.runs.flatMap(x => x.states))]
        return `${states.some(s => s.startsWith('check')) ? '**yes**' : 'no'}: states seen ${states.join(', ')}`
      }
      const checking = r.runs.map(x => x.checkingMs ?? 0)
      const states = [...new Set(r.runs.flatMap(x => x.states))]
      return `${states.includes('checking_files') ? `**yes** (checking_files ${checking.map(c => (c / 1000).toFixed(2)).join(', ')} s)` : 'no'}: states seen ${states.join(', ')}`
    }
    const table = [
      '| client | restart: spawn → all seeding, median | runs | first API/RPC answer, median | re-hashed after the restart? | vs fastest | first add → all seeding (full hash) |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(r => {
        const answer = r.runs.map(x => x.firstAnswer).filter((x): x is number => x !== undefined)
        const ready = r.runs.map(x => x.readyLine).filter((x): x is number => x !== undefined)
        const answerCell = answer.length === 0 ? '— (its own poll)' : `${secs(median(answer), 3)}${ready.length === 0 ? '' : ` (ready line ${secs(median(ready), 3)})`}`
        return `| ${r.client} | **${secs(r.median, 3)}** | ${r.runs.map(x => x.seconds.toFixed(3)).join(', ')} | ${answerCell} | ${rehash(r)} | ${(r.median / fastest).toFixed(2)}x | ${secs(r.initial, 1)} (${r.initialNote}) |`
      })
    ].join('\n')
    const ours = rows.find(r => r.client === 'p2pshare')
    const others = rows.filter(r => r.client !== 'p2pshare')
    if (ours !== undefined && others.length > 0) {
      const best = others.reduce((a, b) => (a.median <= b.median ? a : b))
      ratios.push(`restart: p2pshare / fastest reference client (${best.client}) = ${(ours.median / best.median).toFixed(2)}x`)
    }
    const notes = restart.flatMap(r => r.notes.map(n => `- ${r.client} ${n}.`))
    sections.push(`### (a) Restart of a node holding ${count} complete torrents of ${sizeMiB} MiB (${totalGiB.toFixed(totalGiB < 10 ? 2 : 0)} GiB) until every one is seeding\n\n` +
      `Median of ${restarts} restart(s), interleaved; polled every ${POLL_MS} ms. Files ${set?.reused === true ? 'reused from the cache (an earlier --keep-cache run)' : 'generated for this run'} in ${set?.dir ?? '?'}, piece length ${((set?.pieceLength ?? 0) / 1024).toFixed(0)} KiB; page cache warm for every client.${touched.length > 0 ? ` **The mtime of ${touched.length} file(s) changed during the run** (a client wrote to them).` : ' No file\'s mtime changed during the run.'}\n\n${table}${notes.length > 0 ? `\n\n${notes.join('\n')}` : ''}`)
  }

  if (idle.length > 0) {
    const ours = idle.find(r => r.client === 'p2pshare')
    const table = [
      `| client | torrents seeding | CPU s over ${idleSeconds} s | CPU % of one core | RSS MiB (end) | p2pshare CPU / this | p2pshare RSS / this |`,
      '|---|---|---|---|---|---|---|',
      ...idle.map(r => {
        const pct = r.cpuSeconds / r.windowSeconds * 100
        const reference = ours !== undefined && (r.client === 'transmission' || r.client === 'libtorrent')
        const cpuRatio = !reference ? '—' : r.cpuSeconds === 0 ? 'n/a (this: 0 s)' : `${(ours.cpuSeconds / r.cpuSeconds).toFixed(2)}x`
        const rssRatio = !reference ? '—' : `${(ours.rssMiB / r.rssMiB).toFixed(2)}x`
        return `| ${r.client} | ${r.torrents} | ${r.cpuSeconds.toFixed(2)} | ${pct.toFixed(3)} % | ${r.rssMiB.toFixed(1)} | ${cpuRatio} | ${rssRatio} |`
      })
    ].join('\n')
    if (ours !== undefined) {
      for (const r of idle.filter(x => x.client === 'transmission' || x.client === 'libtorrent')) ratios.push(`idle: p2pshare / ${r.client}: CPU ${r.cpuSeconds === 0 ? 'n/a (this: 0 s)' : `${(ours.cpuSeconds / r.cpuSeconds).toFixed(2)}x`}, RSS ${(ours.rssMiB / r.rssMiB).toFixed(2)}x`)
    }
    sections.push(`### (b) Idle: ${idleCount} torrents of ${IDLE_FILE_BYTES / MiB} MiB seeding, no peers\n\n` +
      `CPU = utime + stime from /proc/PID/stat (clock ticks of 1/${CLOCK_TICKS} s) over a window of ${idleSeconds} s starting ${SETTLE_MS / 1000} s after every torrent was seeding; RSS = VmRSS at the end of the window.\n\n${table}${idle.some(r => r.note !== undefined) ? `\n\n${idle.filter(r => r.note !== undefined).map(r => `- ${r.client} ${r.note ?? ''}.`).join('\n')}` : ''}`)
  }

  const head = `${date}; commit ${commit()}; ${machine}; ${clientVersions}.`
  const body = `${sections.join('\n\n')}\n\n${ratios.map(r => `- ${r}`).join('\n')}\n`
  process.stdout.write(`\nNode benchmark, ${head}\n\n${body}`)
  if (record) {
    const resultsDir = join(ROOT, 'bench', 'results')
    mkdirSync(resultsDir, { recursive: true })
    writeFileSync(join(resultsDir, 'node.md'), `# Node benchmark: restart and idle, beside transmission-daemon and libtorrent\n\n` +
      `Recorded with \`node dist/bench/node.js ${process.argv.slice(2).join(' ')}\` (\`npm run bench:node -- ...\`). ${head}\n\n${body}\n${HOW}\n`)
    writeFileSync(join(resultsDir, 'node.json'), JSON.stringify({
      date, commit: commit(), machine, clientVersions, count, sizeMiB, restarts, idleCount, idleSeconds, pollMs: POLL_MS, settleMs: SETTLE_MS,
      filesReused: set?.reused ?? null, mtimeChanged: touched.length, restart, idle
    }, null, 2) + '\n')
    process.stderr.write('bench: wrote bench/results/node.md and node.json\n')
  }
  return 0
}

const HOW = `## How each client was run

Everything on 127.0.0.1, no tracker (the torrents have none, and the node is started without \`--tracker\`), no peer.
Each client holds its own state in a fresh folder and reads the same files in place (never copied, never written).

- **p2pshare**: \`node bin/p2pshare.js node --port P --host 127.0.0.1 --api-port A --data-dir D\`; each file added
  with \`POST /api/v1/torrents {"path": FILE}\` (the node makes the torrent and hashes the file), stopped with SIGINT
  (it writes its resume data and prints "Node stopped."). Restart timed from the spawn until \`GET /api/v1/torrents\`
  lists every torrent in state \`seeding\`; \`/api/v1/stats\` \`current.piecesChecked\` is read once they are.
- **Transmission**: \`transmission-daemon -f -g CONFDIR\`, settings as \`../shared/anchors/tr_lib.sh\` (bind and RPC on
  127.0.0.1, DHT, LPD, PEX, uTP and port forwarding off, no queues or limits). Torrents made by \`transmission-create
  -s <our piece length>\` (trackerless), added over RPC \`torrent-add\` with \`download-dir\` = the files' folder, so it
  verifies them and seeds. Stopped with SIGTERM and waited for (it writes its resume files on exit). Restart timed from
  the spawn until RPC \`torrent-get\` (session-id handshake done by the bench) shows every torrent at status 6
  (seeding) and percentDone 1.
- **libtorrent**: \`bench/lt_node.py\` on \`/usr/bin/python3\` (python3-libtorrent), settings as
  \`../shared/anchors/lt_common.py\` (DHT, LSD, UPnP, NAT-PMP, uTP off, no default plugins, torrents not auto-managed).
  First process: the same .torrent files added with \`save_path\` = the files' folder (a full check), then
  \`save_resume_data(save_info_dict)\` and \`write_resume_data_buf\` for each. Each restart is a fresh process that adds
  every torrent from \`lt.read_resume_data(buf)\` (with \`save_path\`), polls \`torrent_status.state\` every 20 ms until
  all are \`seeding\`, prints SEEDING (timed by the bench from the spawn to that line) and then saves its resume data
  again, untimed. The idle process adds the .torrent files, waits for seeding and then waits for alerts (1 s timeout).

Not measured: a cold page cache (dropping it needs root); every client reads files that are in memory, so a full
check costs SHA-1 time, not disk time.`

runMain(main)
