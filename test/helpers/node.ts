/**
 * A `p2pshare node` child process on 127.0.0.1 and a small client of its REST API, for integration tests.
 */
import type { TestContext } from 'node:test'
import { cli, type Proc } from './process.js'
import { freePort } from './net.js'

export interface TestNode {
  proc: Proc
  url: string
  apiPort: number
  dataDir: string
  api: <T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number, body: T }>
}

export async function startNode (t: TestContext, cwd: string, dataDir: string, extra: string[] = [], options: { auth?: string, apiPort?: number } = {}): Promise<TestNode> {
  const apiPort = options.apiPort ?? await freePort()
  const proc = cli(['node', '--port', '0', '--host', '127.0.0.1', '--api-port', String(apiPort), '--data-dir', dataDir, ...extra], { cwd, t })
  await proc.waitFor(/Press Ctrl\+C to stop/)
  const url = `http://127.0.0.1:${apiPort}`
  const auth = options.auth === undefined ? {} : { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` }
  const api = async <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: T }> => {
    const res = await fetch(url + path, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000)
    })
    const text = await res.text()
    return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T }
  }
  return { proc, url, apiPort, dataDir, api }
}
