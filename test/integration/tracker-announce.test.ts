import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { announce, scrape, TrackerFailureError, type AnnounceRequest } from '../../src/discovery/index.js'
import { createTracker } from '../../src/tracker/index.js'

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex')
const peerId = (n: number): Buffer => Buffer.from(`-PS0001-${String(n).padStart(12, '0')}`, 'latin1')

test('our announce client against a listening tracker: peers see each other, stopped removes, scrape counts', async (t) => {
  // Peers re-announce at once here to see each other: the min interval rule is tested in tracker-abuse.test.ts.
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0, announceIntervalS: 30, enforcedMinIntervalS: 0 })
  t.after(() => tracker.close())
  const { host, port } = await tracker.listen({ host: '127.0.0.1', port: 0 })
  const url = `${host}:${port}` // a base URL without scheme: the client appends /announce
  const infoHash = sha1('integration torrent')
  const other = sha1('another torrent')

  const as = (n: number, overrides: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
    url, infoHash, peerId: peerId(n), port: 50_000 + n, uploaded: 0, downloaded: 0, left: 1000, ...overrides
  })
  const ports = (peers: Array<{ ip: string, port: number }>): number[] => {
    for (const p of peers) assert.equal(p.ip, '127.0.0.1')
    return peers.map((p) => p.port).sort((a, b) => a - b)
  }

  // Four leechers announce started; each later one sees every earlier one.
  const first = await announce(as(1, { event: 'started' }))
  assert.deepEqual(first, { interval: 30, minInterval: 15, complete: 0, incomplete: 1, peers: [] })
  for (const n of [2, 3, 4]) await announce(as(n, { event: 'started' }))
  // Now every peer sees the three others, never itself.
  for (const n of [1, 2, 3, 4]) {
    const reply = await announce(as(n))
    assert.deepEqual(ports(reply.peers), [1, 2, 3, 4].filter((m) => m !== n).map((m) => 50_000 + m), `peer ${n}`)
    assert.equal(reply.incomplete, 4)
  }

  // Peer 1 completes: a seeder, counted in downloaded; as a seeder it is given the leechers only.
  const done = await announce(as(1, { event: 'completed', left: 0, downloaded: 1000 }))
  assert.equal(done.complete, 1)
  assert.equal(done.incomplete, 3)
  assert.deepEqual(ports(done.peers), [50_002, 50_003, 50_004])

  // Peer 2 stops: nobody is given it any more.
  const stopped = await announce(as(2, { event: 'stopped' }))
  assert.deepEqual(stopped.peers, [])
  for (const n of [3, 4]) {
    assert.ok(!ports((await announce(as(n))).peers).includes(50_002), `peer ${n} no longer sees peer 2`)
  }

  // A peer of another swarm sees nobody of this one.
  assert.deepEqual((await announce(as(9, { infoHash: other, url: `http://${host}:${port}/announce` }))).peers, [])

  // Scrape: the counts of both swarms; an unknown hash is absent.
  const stats = await scrape(url, [infoHash, other, sha1('unknown')])
  assert.deepEqual(Object.fromEntries(stats), {
    [infoHash]: { complete: 1, incomplete: 2, downloaded: 1 },
    [other]: { complete: 0, incomplete: 1, downloaded: 0 }
  })

  // numwant bounds the reply.
  assert.equal((await announce(as(3, { numwant: 1 }))).peers.length, 1)

  // The tracker's refusals reach the client as ERR_TRACKER_FAILURE with the reason.
  await assert.rejects(announce(as(5, { url: `http://${host}:${port}/announce?info_hash=x` })), (err: unknown) => {
    // Our parser takes the first info_hash: the bogus one in the URL.
    assert.ok(err instanceof TrackerFailureError)
    assert.equal(err.failureReason, 'Invalid parameter: info_hash: must be 20 bytes, percent-encoded (got 1)')
    return true
  })
})

test('a registration naming the info hash joins the catalogue and the swarm over real HTTP', async (t) => {
  const tracker = await createTracker({ db: ':memory:', probeIntervalMs: 0 })
  t.after(() => tracker.close())
  const { host, port } = await tracker.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://${host}:${port}`
  const fileHash = sha1('bytes')
  const infoHash = sha1('info')

  const registered = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ file_name: 'a.bin', file_hash: fileHash, file_size: 10, chunks: [0], ip: '127.0.0.1', port: 40_000, info_hash: infoHash })
  })
  assert.equal(registered.status, 200)
  // The same endpoint announces (a hybrid peer), and one more peer.
  await announce({ url: base, infoHash, peerId: peerId(1), port: 40_000, uploaded: 0, downloaded: 0, left: 0 })
  await announce({ url: base, infoHash, peerId: peerId(2), port: 40_001, uploaded: 0, downloaded: 0, left: 10 })

  const lookup = await (await fetch(`${base}/lookup?info_hash=${infoHash}`)).json() as Record<string, unknown>
  assert.equal(lookup.magnet, `magnet:?xt=urn:btih:${infoHash}&dn=a.bin&tr=${encodeURIComponent(`http://${host}:${port}/announce`)}`)
  assert.equal(lookup.seeders, 1)
  assert.equal(lookup.leechers, 1)
  const files = await (await fetch(`${base}/files`)).json() as { files: Array<Record<string, unknown>> }
  assert.equal(files.files[0]?.peers_count, 2, 'the hybrid endpoint is counted once')
})
