/**
 * A magnet's metadata phase on its own, as a session torrent runs it: a MetadataSwarm (real sockets) dialling the
 * given peers, ticked as the session ticks it, closed when the test ends.
 */
import type { TestContext } from 'node:test'
import { randomBytes } from 'node:crypto'
import { MetadataSwarm } from '../../src/swarm/index.js'

export interface MetadataProbe {
  swarm: MetadataSwarm
  /** Resolves with the info dictionary, checked against the info hash. */
  metadata: Promise<Buffer>
  logs: string[]
  /** The metadata within `ms`, or a rejection naming what the swarm logged meanwhile. */
  within: (ms: number) => Promise<Buffer>
}

export function metadataProbe (t: TestContext, infoHash: Buffer, peers: ReadonlyArray<{ host: string, port: number }>): MetadataProbe {
  const logs: string[] = []
  let got: (raw: Buffer) => void = () => {}
  const metadata = new Promise<Buffer>((resolve) => { got = resolve })
  const swarm = new MetadataSwarm({ infoHash, peerId: randomBytes(20), listenPort: 1, onMetadata: (raw) => { got(raw) }, onLog: (m) => { logs.push(m) } })
  const ticker = setInterval(() => { swarm.tick() }, 250)
  t.after(() => { clearInterval(ticker); swarm.close() })
  swarm.addPeers(peers, 'magnet')
  const within = async (ms: number): Promise<Buffer> => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`no metadata in ${ms} ms; the swarm logged: ${logs.join('; ')}`)) }, ms)
    })
    try {
      return await Promise.race([metadata, late])
    } finally {
      clearTimeout(timer)
    }
  }
  return { swarm, metadata, logs, within }
}
