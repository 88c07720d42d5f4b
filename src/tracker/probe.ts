/**
 * The default liveness check of a registered peer: can a TCP connection be opened to its (ip, port)?
 * The connection is closed at once, sending nothing: the seed's chunk server reads an empty request,
 * finds it is not `GET_CHUNK`, and closes; ours does the same.
 */
import { connect } from 'node:net'
import { PROBE_CONNECT_TIMEOUT_MS } from './limits.js'

/** Checks whether a peer is alive; resolves false (never rejects) when it is not or the signal aborts. */
export type ProbeFn = (ip: string, port: number, signal: AbortSignal) => Promise<boolean>

/**
 * Resolves true when a TCP connection to `ip`:`port` opens within `timeoutMs`, false on refusal, error,
 * timeout or abort. Never rejects. `ip` must be an IP literal (no DNS lookup is made for it).
 */
export function tcpProbe (ip: string, port: number, signal?: AbortSignal, timeoutMs = PROBE_CONNECT_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve(false)
      return
    }
    const socket = connect({ host: ip, port })
    let settled = false
    const finish = (alive: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve(alive)
    }
    const onAbort = (): void => finish(false)
    const timer = setTimeout(() => finish(false), timeoutMs)
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
  })
}
