/**
 * BitTorrent, one seed to one downloader on loopback, side by side with libtorrent in the same run:
 *
 *   node dist/bench/bittorrent.js [--size MiB] [--runs N] [--record]
 *
 * Phase "ours": `p2pshare share FILE` seeds (and announces to a p2pshare tracker); `p2pshare download FILE.torrent`
 * is timed. Phase "libtorrent": python3-libtorrent seeds the same torrent and a libtorrent leecher is timed (each
 * phase with its own tracker, so no leecher sees the other's seed). Wall time is spawn to exit of the downloader,
 * which exits once every piece is verified (libtorrent's after flushing its store buffer). Peak RSS by GNU time.
 * Everything on 127.0.0.1; DHT, LSD, UPnP, NAT-PMP, uTP and PEX are off in libtorrent.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import {
  arg, CLI, freePort, libtorrentSeed, LT, machineLine, MB, median, PYTHON, randomPayload, ROOT, runMain, sha1, startBg, timed, tracker, withTempDir, type Run
} from './lib.js'

const sizeMiB = Number(arg('--size', '1024'))
const runs = Number(arg('--runs', '3'))
const record = process.argv.includes('--record')

async function main (): Promise<number> {
  return await withTempDir('p2p-bt-bench-', async (dir) => {
    const { file, bytes, sha1: digest } = await randomPayload(dir, sizeMiB, machineLine())
    const results: Record<string, Run[]> = { p2pshare: [], libtorrent: [] }

    // Phase 1: ours.
    const urlA = await tracker(dir)
    const sharer = startBg(process.execPath, [CLI, 'share', file, '--port', '0', '--host', '127.0.0.1', '--tracker', urlA, '--library', join(dir, 'lib')], dir)
    await sharer.waitFor(/(Peer is now online)/, 120_000)
    const torrentA = join(dir, 'a.torrent')
    await timed(process.execPath, [CLI, 'create', file, '--tracker', urlA, '-o', torrentA], dir, 120_000)
    for (let i = 0; i < runs; i++) {
      const out = join(dir, `ours-${i}`)
      const run = await timed(process.execPath, [CLI, 'download', torrentA, '--host', '127.0.0.1', '--out', out, '-q'], dir, 300_000)
      if (await sha1(join(out, 'payload.bin')) !== digest) throw new Error('p2pshare: wrong bytes')
      rmSync(out, { recursive: true, force: true })
      results.p2pshare?.push(run)
      process.stderr.write(`  p2pshare run ${i + 1}: ${run.seconds.toFixed(2)} s, ${(bytes / MB / run.seconds).toFixed(0)} MB/s, RSS ${(run.rssKb / 1024).toFixed(0)} MiB\n`)
    }
    sharer.proc.kill('SIGINT')

    // Phase 2: libtorrent, its own tracker (a p2pshare tracker: libtorrent only announces to it).
    const urlB = await tracker(dir)
    const torrentB = join(dir, 'b.torrent')
    await timed(process.execPath, [CLI, 'create', file, '--tracker', urlB, '-o', torrentB], dir, 120_000)
    await libtorrentSeed({ dir, seedDir: join(dir, 'lt-seed'), file, torrent: torrentB }) // stopped with the rest at the end
    await new Promise(resolve => setTimeout(resolve, 1000))
    for (let i = 0; i < runs; i++) {
      const out = join(dir, `lt-${i}`)
      mkdirSync(out)
      const run = await timed(PYTHON, [LT, 'leech', torrentB, out, String(await freePort()), '300'], dir, 330_000)
      if (await sha1(join(out, 'payload.bin')) !== digest) throw new Error('libtorrent: wrong bytes')
      rmSync(out, { recursive: true, force: true })
      results.libtorrent?.push(run)
      process.stderr.write(`  libtorrent run ${i + 1}: ${run.seconds.toFixed(2)} s, ${(bytes / MB / run.seconds).toFixed(0)} MB/s, RSS ${(run.rssKb / 1024).toFixed(0)} MiB\n`)
    }

    const rows = Object.entries(results).map(([client, rs]) => {
      const t = median(rs.map(r => r.seconds))
      return { client, seconds: t, mbps: bytes / MB / t, rssMiB: Math.max(...rs.map(r => r.rssKb)) / 1024, all: rs.map(r => r.seconds) }
    })
    const lt = rows.find(r => r.client === 'libtorrent')
    const table = [
      `| downloader (seed of the same kind) | median time | MB/s | peak RSS MiB | runs (s) | speed vs libtorrent |`,
      '|---|---|---|---|---|---|',
      ...rows.map(r => `| ${r.client} | ${r.seconds.toFixed(2)} s | ${r.mbps.toFixed(0)} | ${r.rssMiB.toFixed(0)} | ${r.all.map(x => x.toFixed(2)).join(', ')} | ${lt === undefined ? '—' : (lt.seconds / r.seconds).toFixed(2)}x |`)
    ].join('\n')
    const head = `BitTorrent 1:1, ${sizeMiB} MiB (${bytes} bytes), loopback, ${cpus().length} cores, node ${process.version}, ${new Date().toISOString()}; MB = 10^6 bytes; time = downloader spawn to exit (every piece verified).`
    process.stdout.write(`${head}\n\n${table}\n`)
    if (record) {
      const resultsDir = join(ROOT, 'bench', 'results')
      if (!existsSync(resultsDir)) mkdirSync(resultsDir, { recursive: true })
      writeFileSync(join(resultsDir, 'bittorrent.md'), `# BitTorrent 1:1 benchmark\n\nRecorded with \`node dist/bench/bittorrent.js --record\`. ${head}\n\n${table}\n\nTarget (issue 3, a): at least 2.5x the fastest reference client in the same run (about 550 MB/s here).\n`)
      writeFileSync(join(resultsDir, 'bittorrent.json'), JSON.stringify({ sizeMiB, runs, date: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n')
    }
    return 0
  })
}

runMain(main)
