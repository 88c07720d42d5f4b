/**
 * A TCP proxy on 127.0.0.1 that forwards a peer's replies slowly, so a test can act (kill the peer, press Ctrl+C)
 * while a chunk is provably in flight.
 */
import { connect, createServer, type Server } from 'node:net'
import type { TestContext } from 'node:test'

export interface ThrottleProxy {
  port: number
  /** Resolves once the first reply bytes have been forwarded to a client. */
  firstBytes: Promise<void>
  server: Server
}

export async function throttleProxy (t: TestContext, targetPort: number, bytesPerTick = 16 * 1024, tickMs = 20): Promise<ThrottleProxy> {
  let signalFirst: () => void = () => {}
  const firstBytes = new Promise<void>(resolve => { signalFirst = resolve })
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    const queue: Buffer[] = []
    let ended = false
    const timer = setInterval(() => {
      let budget = bytesPerTick
      while (budget > 0 && queue.length > 0) {
        const head = queue[0] as Buffer
        const take = head.subarray(0, budget)
        client.write(take)
        signalFirst()
        budget -= take.length
        if (take.length === head.length) queue.shift()
        else queue[0] = head.subarray(take.length)
      }
      if (queue.length === 0 && ended) { clearInterval(timer); client.end() }
    }, tickMs)
    client.on('data', (d) => upstream.write(d))
    upstream.on('data', (d) => queue.push(d))
    upstream.on('end', () => { ended = true })
    const stop = (): void => { clearInterval(timer); client.destroy(); upstream.destroy() }
    upstream.on('error', stop)
    client.on('error', stop)
    client.on('close', stop)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  return { port: (server.address() as { port: number }).port, firstBytes, server }
}
