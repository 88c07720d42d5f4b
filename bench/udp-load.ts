/**
 * A UDP tracker load generator (BEP 15), the UDP counterpart of `wrk` in bench/tracker.ts: closed loop, a window of
 * announces in flight per socket, each reply answered by the next announce.
 *
 *   node dist/bench/udp-load.js --port N [--host 127.0.0.1] [--seconds 10] [--sockets 4] [--window 64]
 *                               [--mode rand|fill] [--swarms 100000] [--peers-per-swarm 10] [--info-hash HEX]
 *
 * - `rand`: every announce is a new peer (a new port and peer id) of one swarm (`--info-hash`), for `--seconds`.
 * - `fill`: announces peer k of swarm s for every s < swarms, k < peers-per-swarm, once each (swarm s's info hash is
 *   s as 4 big-endian bytes followed by 16 fixed bytes), then stops: it loads a tracker with swarms × peers peers.
 *
 * Prints one JSON line: `{ replies, errors, timeouts, seconds, rate }` (rate = announce replies per second).
 * An announce not answered within 1 s counts as a timeout and is sent again (fill) or replaced (rand). Connection ids
 * are renewed every 30 s (a tracker accepts one for at least 1 minute). Loopback only: --host must be in 127.0.0.0/8.
 */
import { createSocket, type Socket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { arg } from './lib.js'

const host = arg('--host', '127.0.0.1')
const port = Number(arg('--port', '0'))
const seconds = Number(arg('--seconds', '10'))
const socketCount = Number(arg('--sockets', '4'))
const window = Number(arg('--window', '64'))
const mode = arg('--mode', 'rand')
const swarms = Number(arg('--swarms', '100000'))
const peersPerSwarm = Number(arg('--peers-per-swarm', '10'))
const infoHash = Buffer.from(arg('--info-hash', '123456789abcdef0123456789abcdef012345678'), 'hex')

const PROTOCOL_ID = 0x41727101980n
const ACTION_CONNECT = 0
const ACTION_ANNOUNCE = 1
const ACTION_ERROR = 3
const ANNOUNCE_BYTES = 98
const TIMEOUT_MS = 1_000
const RECONNECT_MS = 30_000
/** A fill run that has not finished after this long gives up (a tracker that stopped answering). */
const FILL_LIMIT_MS = 600_000

if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error('--host must be a loopback IPv4 address')
if (!(port >= 1 && port <= 65535)) throw new Error('--port 1-65535 required')
if (!(socketCount >= 1 && socketCount <= 64 && window >= 1 && window <= 4096 && seconds > 0 && seconds <= 600)) {
  throw new Error('--sockets 1-64, --window 1-4096, --seconds up to 600')
}
if (mode !== 'rand' && mode !== 'fill') throw new Error('--mode rand|fill')
if (infoHash.length !== 20) throw new Error('--info-hash: 40 hex digits')

let replies = 0
let errors = 0
let timeouts = 0
let firstError = ''

/** fill: the next (swarm, peer) index to announce, and how many are done. */
let nextFill = 0
const fillTotal = swarms * peersPerSwarm
let fillDone = 0
let randCounter = 0

interface InFlight { index: number, sentAt: number }

class Client {
  readonly socket: Socket = createSocket('udp4')
  connectionId = Buffer.alloc(8)
  connectedAt = 0
  readonly inFlight = new Map<number, InFlight>()
  nextTxn = 1
  readonly connectTxn = randomBytes(4).readUInt32BE(0)

  async connect (): Promise<void> {
    const request = Buffer.alloc(16)
    request.writeBigUInt64BE(PROTOCOL_ID, 0)
    request.writeUInt32BE(ACTION_CONNECT, 8)
    request.writeUInt32BE(this.connectTxn, 12)
    for (let attempt = 0; attempt < 5; attempt++) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const onMessage = (msg: Buffer): void => {
          if (msg.length >= 16 && msg.readUInt32BE(0) === ACTION_CONNECT && msg.readUInt32BE(4) === this.connectTxn) {
            clearTimeout(timer)
            this.socket.off('message', onMessage)
            resolve(msg)
          }
        }
        const timer = setTimeout(() => { this.socket.off('message', onMessage); resolve(undefined) }, TIMEOUT_MS)
        this.socket.on('message', onMessage)
        this.socket.send(request, port, host)
      })
      if (reply !== undefined) {
        reply.copy(this.connectionId, 0, 8, 16)
        this.connectedAt = Date.now()
        return
      }
    }
    throw new Error(`no connect reply from ${host}:${port}`)
  }

  /** Sends the announce of work item `index` (fill) or a new random peer (rand, index -1). */
  send (index: number): void {
    // A new buffer each time: dgram sends asynchronously (after an address lookup), so a reused one would be
    // overwritten by the next announce before it left.
    const p = Buffer.alloc(ANNOUNCE_BYTES)
    const txn = this.nextTxn++ >>> 0
    this.connectionId.copy(p, 0)
    p.writeUInt32BE(ACTION_ANNOUNCE, 8)
    p.writeUInt32BE(txn, 12)
    let peerPort: number
    if (index >= 0) {
      const swarm = index % swarms
      p.writeUInt32BE(swarm, 16)
      infoHash.copy(p, 20, 4, 20)
      peerPort = 1024 + Math.floor(index / swarms)
      p.writeUInt32BE(index, 36 + 16)
    } else {
      infoHash.copy(p, 16)
      const n = randCounter++
      peerPort = 1024 + (n % 60000)
      p.writeUInt32BE(n, 36 + 16)
    }
    p.write('-BL0001-', 36, 'latin1')
    p.writeUInt32BE(0x55aa55aa, 36 + 8)
    p.writeUInt32BE(txn, 36 + 12)
    p.writeBigUInt64BE(0n, 56) // downloaded
    p.writeBigUInt64BE(1n << 30n, 64) // left
    p.writeBigUInt64BE(0n, 72) // uploaded
    p.writeUInt32BE(0, 80) // event: none
    p.writeUInt32BE(0, 84) // ip: the source's
    p.writeUInt32BE(txn, 88) // key
    p.writeInt32BE(50, 92) // num_want
    p.writeUInt16BE(peerPort, 96)
    this.inFlight.set(txn, { index, sentAt: Date.now() })
    this.socket.send(p, port, host)
  }
}

function nextIndex (): number | undefined {
  if (mode === 'rand') return -1
  if (nextFill >= fillTotal) return undefined
  return nextFill++
}

async function main (): Promise<void> {
  const clients: Client[] = []
  for (let i = 0; i < socketCount; i++) {
    const client = new Client()
    await new Promise<void>((resolve) => { client.socket.bind(0, '127.0.0.1', resolve) })
    client.socket.setRecvBufferSize(4 << 20)
    client.socket.setSendBufferSize(4 << 20)
    await client.connect()
    clients.push(client)
  }
  const started = Date.now()
  const deadline = started + (mode === 'rand' ? seconds * 1000 : FILL_LIMIT_MS)
  let stopping = false
  let resolveDone: () => void = () => {}
  const done = new Promise<void>((resolve) => { resolveDone = resolve })

  const refill = (client: Client): void => {
    while (!stopping && client.inFlight.size < window) {
      const index = nextIndex()
      if (index === undefined) break
      client.send(index)
    }
    if (mode === 'fill' && fillDone >= fillTotal) { stopping = true; resolveDone() }
  }

  for (const client of clients) {
    client.socket.on('message', (msg: Buffer) => {
      if (msg.length < 8) return
      const action = msg.readUInt32BE(0)
      const txn = msg.readUInt32BE(4)
      const entry = client.inFlight.get(txn)
      if (entry === undefined) return
      client.inFlight.delete(txn)
      if (action === ACTION_ANNOUNCE) {
        replies++
        if (mode === 'fill') fillDone++
      } else if (action === ACTION_ERROR) {
        errors++
        if (firstError === '') firstError = msg.subarray(8).toString('utf8')
        if (mode === 'fill') fillDone++ // refused: not retried (the tracker said why)
      }
      if (Date.now() - client.connectedAt > RECONNECT_MS && !stopping) {
        client.connectedAt = Date.now() // one reconnect at a time
        client.connect().catch(() => { stopping = true; resolveDone() })
      }
      refill(client)
    })
  }
  const sweep = setInterval(() => {
    const now = Date.now()
    if (now >= deadline) { stopping = true; resolveDone(); return }
    for (const client of clients) {
      for (const [txn, entry] of client.inFlight) {
        if (now - entry.sentAt < TIMEOUT_MS) continue
        client.inFlight.delete(txn)
        timeouts++
        if (entry.index >= 0 && !stopping) client.send(entry.index)
      }
      refill(client)
    }
  }, 100)
  for (const client of clients) refill(client)
  await done
  const elapsed = (Date.now() - started) / 1000
  clearInterval(sweep)
  for (const client of clients) client.socket.close()
  process.stdout.write(JSON.stringify({ mode, replies, errors, timeouts, seconds: elapsed, rate: replies / elapsed, firstError }) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`udp-load: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
