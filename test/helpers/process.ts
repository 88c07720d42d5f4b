/**
 * Child processes for integration tests: our CLI and the Python stand-ins, with output captured, lines awaited
 * with a deadline, and every process killed when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import type { TestContext } from 'node:test'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const CLI = join(ROOT, 'bin', 'p2pshare.js')
export const SEED_DIR = join(ROOT, 'test', 'fixtures', 'seed')

export interface Proc {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the first match of `pattern` in stdout (or stderr), rejects after `timeoutMs` or on exit. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  kill: (signal?: NodeJS.Signals) => void
}

export function start (command: string, args: string[], options: { cwd: string, t?: TestContext, env?: Record<string, string> }): Proc {
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; for (const w of waiters) w() })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d; for (const w of waiters) w() })
  // `done` is set before the waiters look, so a waitFor on a process that exits fails at once, not at its timeout.
  let done = false
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { done = true; resolve({ code, signal }); for (const w of waiters) w() })
  })
  const proc: Proc = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => { if (!done) child.kill(signal) },
    waitFor: async (pattern, timeoutMs = 20_000) => await new Promise((resolve, reject) => {
      const check = (): void => {
        const m = out.match(pattern) ?? err.match(pattern)
        if (m !== null) { finish(); resolve(m); return }
        if (done) { finish(); reject(new Error(`process exited before ${String(pattern)}\nstdout: ${out}\nstderr: ${err}`)) }
      }
      const timer = setTimeout(() => { finish(); reject(new Error(`timed out waiting for ${String(pattern)}\nstdout: ${out}\nstderr: ${err}`)) }, timeoutMs)
      const finish = (): void => { clearTimeout(timer); waiters.delete(check) }
      waiters.add(check)
      check()
    })
  }
  options.t?.after(() => { proc.kill('SIGKILL') })
  return proc
}

/** Run our CLI to completion (bounded by `timeoutMs`); resolves with its exit code and output. */
export async function runCli (args: string[], options: { cwd: string, timeoutMs?: number, env?: Record<string, string> }): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await runToEnd(start(process.execPath, [CLI, ...args], options), options.timeoutMs)
}

/** Wait for a process to exit, killing it after `timeoutMs` (default 60 s); resolves with its exit code and output. */
export async function runToEnd (proc: Proc, timeoutMs = 60_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const timer = setTimeout(() => { proc.kill('SIGKILL') }, timeoutMs)
  const { code } = await proc.exited
  clearTimeout(timer)
  return { code, stdout: proc.stdout(), stderr: proc.stderr() }
}

export function cli (args: string[], options: { cwd: string, t?: TestContext, env?: Record<string, string> }): Proc {
  return start(process.execPath, [CLI, ...args], options)
}

export function python (script: 'server.py' | 'hybrid_peer.py', args: string[], options: { cwd: string, t?: TestContext }): Proc {
  return start('python3', ['-u', join(SEED_DIR, script), ...args], options)
}

/** Start our tracker on a free port in `dir`; resolves with its base URL. */
export async function startTracker (dir: string, t: TestContext, extra: string[] = []): Promise<{ url: string, proc: Proc }> {
  const proc = cli(['tracker', '--port', '0', '--db', join(dir, 'tracker.db'), ...extra], { cwd: dir, t })
  const m = await proc.waitFor(/running on (http:\/\/[\d.]+:\d+)/)
  return { url: m[1] ?? '', proc }
}

/** Start a sharing peer of ours; resolves with its port and file hash once it is online. */
export async function startSharer (dir: string, file: string, trackerUrl: string, t: TestContext, extra: string[] = []): Promise<{ port: number, hash: string, proc: Proc }> {
  const proc = cli(['share', file, '--port', '0', '--host', '127.0.0.1', '--tracker', trackerUrl, ...extra], { cwd: dir, t })
  await proc.waitFor(/Peer is now online/)
  const port = Number(proc.stdout().match(/Listening for chunk requests on [\d.]+:(\d+)/)?.[1])
  const hash = proc.stdout().match(/File hash: ([0-9a-f]{40})/)?.[1] ?? ''
  return { port, hash, proc }
}

/** Stop a process: SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves once it has exited. */
export async function stopProcess (proc: Proc, graceMs = 5_000): Promise<void> {
  proc.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const grace = new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })
  await Promise.race([proc.exited, grace])
  clearTimeout(timer)
  proc.kill('SIGKILL')
  await proc.exited
}

/** Why `proc` is no longer running (for `pollUntil`'s `giveUpIf`), or undefined while it runs. */
export function exitReason (proc: Proc, name: string): string | undefined {
  const { exitCode, signalCode } = proc.child
  if (exitCode === null && signalCode === null) return undefined
  return `${name} exited (${exitCode ?? signalCode ?? '?'})\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`
}
