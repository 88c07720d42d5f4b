/**
 * libtorrent (Debian's python3-libtorrent 2.0) as a peer in interop tests: the fixture client
 * test/fixtures/clients/lt_client.py, run by Debian's own interpreter (python3-libtorrent installs for it, not for
 * other pythons on PATH), loopback only.
 */
import type { TestContext } from 'node:test'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { start, type Proc } from './process.js'

export const PYTHON = '/usr/bin/python3'
export const LT_CLIENT = join(import.meta.dirname ?? '', '..', '..', '..', 'test', 'fixtures', 'clients', 'lt_client.py')

/** Throws, naming the package, when libtorrent cannot be imported (a test file's `before`). */
export function requireLibtorrent (): void {
  try {
    execFileSync(PYTHON, ['-c', 'import libtorrent'], { stdio: 'pipe' })
  } catch {
    throw new Error('libtorrent is missing: apt-get install python3-libtorrent (.ci/run does)')
  }
}

/** lt_client.py with these arguments (see its header), stopped when the test ends. */
export function lt (args: string[], dir: string, t: TestContext): Proc {
  return start(PYTHON, ['-u', LT_CLIENT, ...args], { cwd: dir, t })
}
