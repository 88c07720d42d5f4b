/**
 * Our lookup client reads a peer's chunk ids in either form (seed-tracker.ts): the seed's plain `chunks` list, or our
 * tracker's `chunk_ranges` text (asked for with `chunk_format=ranges`), expanded within a bound.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { LOOKUP_MAX_CHUNK_IDS, parseChunkRanges, SeedTrackerClient } from '../../src/discovery/seed-tracker.js'

test('parseChunkRanges: runs and single ids, ascending and apart; anything else is refused', () => {
  assert.deepEqual(parseChunkRanges('', 10), [])
  assert.deepEqual(parseChunkRanges('0-2,5,7-8', 10), [0, 1, 2, 5, 7, 8])
  assert.deepEqual(parseChunkRanges('1048575', 10), [1048575])
  for (const bad of ['-', '1-', '-1', '2-1', '1,1', '3,2', '0-5,5', ',', '0,', ',0', '01', '1 ', '+1', '1e3', '0x1', '1.0', '1--2', '99999999999999999']) {
    assert.equal(parseChunkRanges(bad, 1_000), undefined, JSON.stringify(bad))
  }
  // At most `maxIds` ids: a few bytes of ranges cannot make the client hold billions.
  assert.deepEqual(parseChunkRanges('0-9', 10)?.length, 10)
  assert.equal(parseChunkRanges('0-10', 10), undefined)
  assert.equal(parseChunkRanges('0-4503599627370495', LOOKUP_MAX_CHUNK_IDS), undefined)
})

test('a lookup asks for ranges and reads them, or the plain list of a tracker that ignores the parameter; peers past the id bound are left out', async (t) => {
  const seen: string[] = []
  let reply: unknown
  const server = createServer((req, res) => {
    seen.push(req.url ?? '')
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(reply))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  const client = new SeedTrackerClient(`127.0.0.1:${(server.address() as { port: number }).port}`)
  const base = { file_hash: 'a'.repeat(40), file_name: 'f', file_size: 10 * 1024 }

  reply = { ...base, peers: [{ chunk_ranges: '0-3,7', chunk_size: 1024, ip: '10.0.0.1', port: 1 }, { chunks: [0, 1], ip: '10.0.0.2', port: 2 }] }
  const found = await client.lookupByName('f')
  assert.deepEqual(seen, ['/lookup?file_name=f&chunk_format=ranges'])
  assert.deepEqual(found?.peers, [
    { chunk_size: 1024, chunks: [0, 1, 2, 3, 7], ip: '10.0.0.1', port: 1 },
    { chunks: [0, 1], ip: '10.0.0.2', port: 2 }
  ])
  await client.lookupByHash('b'.repeat(40))
  await client.lookupByInfoHash('c'.repeat(40))
  assert.deepEqual(seen.slice(1), [`/lookup?file_hash=${'b'.repeat(40)}&chunk_format=ranges`, `/lookup?info_hash=${'c'.repeat(40)}&chunk_format=ranges`])

  // Malformed ranges drop that peer; ids past LOOKUP_MAX_CHUNK_IDS in all drop the peers that would pass it.
  const half = LOOKUP_MAX_CHUNK_IDS / 2
  reply = {
    ...base,
    peers: [
      { chunk_ranges: '5-1', ip: '10.0.0.1', port: 1 },
      { chunk_ranges: 7, ip: '10.0.0.1', port: 2 },
      { chunk_ranges: `0-${half - 1}`, ip: '10.0.0.1', port: 3 },
      { chunk_ranges: `0-${half}`, ip: '10.0.0.1', port: 4 },
      { chunk_ranges: `0-${half - 1}`, ip: '10.0.0.1', port: 5 },
      { chunk_ranges: '0', ip: '10.0.0.1', port: 6 }
    ]
  }
  const bounded = await client.lookupByName('f')
  assert.deepEqual(bounded?.peers.map((p) => [p.port, p.chunks.length]), [[3, half], [5, half]])
})
