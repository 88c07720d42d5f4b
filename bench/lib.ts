/**
 * Helpers shared by the BitTorrent benchmarks (bittorrent, swarm, big, prep): children in their own process groups
 * (killed together on exit, failure or Ctrl+C), one temp folder removed at the end, timed runs under GNU time,
 * random files, SHA-1 of a file, a p2pshare tracker.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CLI = join(ROOT, 'bin', 'p2pshare.js')
export const LT = join(ROOT, 'test', 'fixtures', 'clients', 'lt_client.py')
/** Debian's interpreter: python3-libtorrent installs for it, not for other pythons on PATH. */
export const PYTHON = '/usr/bin/python3'
export const TIME = '/usr/bin/time'
export const MB = 1e6
export const MiB = 1024 * 1024

export interface Run { seconds: number, rssKb: number }

export function arg (name: string, fallback: string): string {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : process.argv[i + 1] ?? fallback
}

export function flag (name: string): boolean {
  return process.argv.includes(name)
}

/** Every child started here; each leads its own process group (so `/usr/bin/time` and what it runs die together). */
const children: ChildProcess[] = []

function signalGroup (proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return
  try { process.kill(-proc.pid, signal) } catch { /* already gone */ }
}

/** Spawn a child in its own process group, piped, to be killed with the others on exit, failure or Ctrl+C. */
export function spawnTracked (cmd: string, args: string[], cwd: string): ChildProcess {
  const proc = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(proc)
  return proc
}

/** SIGKILL a child's whole process group (no-op once it exited). */
export function killGroup (proc: ChildProcess): void {
  signalGroup(proc, 'SIGKILL')
}

/** SIGKILL every child still running (with whatever it started). */
export function killAll (): void {
  for (const c of children) signalGroup(c, 'SIGKILL')
}

export interface Bg {
  proc: ChildProcess
  out: () => string
  /** The first capture group (or the whole match) of `re` in stdout+stderr; rejects after `ms` or if the process exits first. */
  waitFor: (re: RegExp, ms: number) => Promise<string>
  /** Called with each complete line of stdout as it arrives, with the performance.now() of its arrival. */
  onLine: (fn: (line: string, at: number) => void) => void
  /** Signal the process group. */
  kill: (signal?: NodeJS.Signals) => void
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited (bounded). */
  stop: (graceMs?: number) => Promise<void>
}

/** Output kept per process, at most (the tail): a chatty child cannot grow the bench's memory. */
const MAX_KEPT_OUTPUT = 1 << 20

/** Start a process in the background; with `logFile`, everything it prints is also written there, in full. */
export function startBg (cmd: string, args: string[], cwd: string, logFile?: string): Bg {
  const proc = spawnTracked(cmd, args, cwd)
  let out = ''
  let partial = ''
  const lineListeners: Array<(line: string, at: number) => void> = []
  // The log file gets each line stamped with seconds since the spawn, to line events of several processes up.
  const log = logFile === undefined ? undefined : createWriteStream(logFile)
  const spawned = performance.now()
  let logPartial = ''
  if (log !== undefined) proc.once('close', () => { log.end(logPartial) })
  const keep = (d: string): void => {
    if (log !== undefined) {
      const lines = (logPartial + d).split('\n')
      logPartial = lines.pop() ?? ''
      const stamp = `[${((performance.now() - spawned) / 1000).toFixed(3)}] `
      for (const line of lines) log.write(stamp + line + '\n')
    }
    out += d
    if (out.length > MAX_KEPT_OUTPUT) out = out.slice(-MAX_KEPT_OUTPUT / 2)
  }
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    const at = performance.now()
    keep(d)
    if (lineListeners.length === 0) return
    const lines = (partial + d).split('\n')
    partial = lines.pop() ?? ''
    if (partial.length > MAX_KEPT_OUTPUT) partial = ''
    for (const line of lines) for (const fn of lineListeners) fn(line, at)
  })
  proc.stderr?.setEncoding('utf8').on('data', keep)
  const exited = new Promise<void>(resolve => {
    if (proc.exitCode !== null) resolve()
    proc.once('exit', () => { resolve() })
    proc.once('error', () => { resolve() })
  })
  const waitFor = async (re: RegExp, ms: number): Promise<string> => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const m = out.match(re)
      if (m !== null) return m[1] ?? m[0]
      if (proc.exitCode !== null || proc.signalCode !== null) break
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    throw new Error(`timed out waiting for ${String(re)} from ${cmd} ${args.join(' ')} (exit ${String(proc.exitCode ?? proc.signalCode)}):\n${out.slice(-4000)}`)
  }
  const stop = async (graceMs = 3000): Promise<void> => {
    signalGroup(proc, 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, graceMs) })
    if (await Promise.race([exited.then(() => false), late])) {
      signalGroup(proc, 'SIGKILL')
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, graceMs))])
    }
    clearTimeout(timer)
  }
  return {
    proc,
    out: () => out,
    waitFor,
    onLine: (fn) => { lineListeners.push(fn) },
    kill: (signal = 'SIGKILL') => { signalGroup(proc, signal) },
    stop
  }
}

/** Run a command under GNU time; resolves with wall seconds, peak RSS and its stdout, rejects on a non-zero exit. */
export async function timed (cmd: string, args: string[], cwd: string, limitMs: number): Promise<Run & { stdout: string }> {
  const started = performance.now()
  const proc = spawnTracked(TIME, ['-f', 'MAXRSS %M', cmd, ...args], cwd)
  let err = ''
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  const timer = setTimeout(() => { signalGroup(proc, 'SIGKILL') }, limitMs)
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${String(code)}:\n${out}\n${err}`)
  return { seconds, rssKb: Number(err.match(/MAXRSS (\d+)/)?.[1] ?? 0), stdout: out }
}

export async function sha1 (path: string): Promise<string> {
  const hash = createHash('sha1')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export async function writeRandom (path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path)
  for (let done = 0; done < bytes; done += 1 << 20) {
    if (!out.write(randomBytes(Math.min(1 << 20, bytes - done)))) await new Promise<void>(resolve => out.once('drain', () => { resolve() }))
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => { if (e) reject(e); else resolve() }))
}

/**
 * The benchmarks' payload: `sizeMiB` of random bytes in `dir/payload.bin`, announced on stderr (with `note`), and its
 * SHA-1 (reading it back also puts it in the page cache).
 */
export async function randomPayload (dir: string, sizeMiB: number, note: string): Promise<{ file: string, bytes: number, sha1: string }> {
  const bytes = sizeMiB * MiB
  const file = join(dir, 'payload.bin')
  process.stderr.write(`bench: generating ${sizeMiB} MiB; ${note}\n`)
  await writeRandom(file, bytes)
  return { file, bytes, sha1: await sha1(file) }
}

/**
 * A libtorrent seed (test/fixtures/clients/lt_client.py) of `file` for `torrent`, from `seedDir` (made if needed, the
 * file linked into it under the torrent's name, `payload.bin`), on a free port; `args` go to the client. Resolves once
 * it is ready, having checked its copy.
 */
export async function libtorrentSeed (o: { dir: string, seedDir: string, file: string, torrent: string, args?: string[], logFile?: string | undefined }): Promise<Bg> {
  mkdirSync(o.seedDir, { recursive: true })
  symlinkSync(o.file, join(o.seedDir, 'payload.bin'))
  const bg = startBg(PYTHON, ['-u', LT, 'seed', o.torrent, o.seedDir, String(await freePort()), ...(o.args ?? [])], o.dir, o.logFile)
  await bg.waitFor(/(READY)/, 30_000)
  return bg
}

/** A `p2pshare tracker` on 127.0.0.1 and a free port (`args`: more options); resolves to its base URL and process. */
export async function startTracker (dir: string, args: string[] = []): Promise<{ url: string, bg: Bg }> {
  const bg = startBg(process.execPath, [CLI, 'tracker', '--port', '0', '--db', join(dir, `t-${Math.random()}.db`), '--probe-interval', '0', ...args], dir)
  return { url: await bg.waitFor(/running on (http:\/\/[\d.]+:\d+)/, 10_000), bg }
}

/** A `p2pshare tracker` on 127.0.0.1 and a free port, running until the end of the bench; resolves to its base URL. */
export async function tracker (dir: string): Promise<string> {
  return (await startTracker(dir)).url
}

/** A port that was free on 127.0.0.1 a moment ago (for clients that cannot be told "any free port"). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { if (address !== null && typeof address === 'object') resolve(address.port); else reject(new Error('no port')) })
    })
  })
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** One line on the machine: cores, node, load average now (others' work skews every number on a shared box). */
export function machineLine (): string {
  return `${cpus().length} cores, node ${process.version}, load average at start ${loadavg().map(x => x.toFixed(2)).join(' ')}`
}

/**
 * Run `body` with a fresh folder under the temp dir; the folder is removed and every child killed at the end, on
 * failure, and on Ctrl+C / SIGTERM.
 */
export async function withTempDir (prefix: string, body: (dir: string) => Promise<number>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const cleanup = (): void => { killAll(); rmSync(dir, { recursive: true, force: true }) }
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, stopping every process and removing ${dir}\n`)
    cleanup()
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('exit', cleanup)
  try {
    return await body(dir)
  } finally {
    cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', cleanup)
  }
}

/** The usual end of a bench's module: exit code from `main`, one readable line on failure, no child left behind. */
export function runMain (main: () => Promise<number>): void {
  main().then((code) => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`)
    killAll()
    process.exitCode = 1
  })
}
