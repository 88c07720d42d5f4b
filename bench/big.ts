/**
 * A big file, one seed to one downloader on loopback: the downloader's peak RSS and time.
 *
 *   node dist/bench/big.js [--size MiB] [--runs N] [--libtorrent] [--record]
 *
 * `p2pshare share FILE` seeds (its library copy is a hard link to the file, so the disk holds the file once);
 * `p2pshare download FILE.torrent --json` is timed under GNU time, which gives its peak resident set (%M). With
 * --libtorrent, a libtorrent seed and leecher (test/fixtures/clients/lt_client.py) are measured the same way in the
 * same run; its RSS counts the file pages it maps, so it grows with the file. Each download is checked by SHA-1 and
 * deleted before the next. Needs twice the file size free under the temp folder (the file and one download).
 */
import { linkSync, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  arg, CLI, flag, freePort, libtorrentSeed, LT, machineLine, MB, median, MiB, PYTHON, randomPayload, ROOT, runMain, sha1, sleep, startBg, timed, tracker, withTempDir, type Run
} from './lib.js'

const sizeMiB = Number(arg('--size', '4096'))
const runs = Number(arg('--runs', '3'))
const withLibtorrent = flag('--libtorrent')
const record = flag('--record')
/** Target (issue 3, c): the downloader's peak RSS below this, MiB. */
const TARGET_RSS_MIB = 150
/** Free space kept beyond what the bench needs, bytes. */
const SPARE_BYTES = 2 * 1024 * MiB

/** A run, with the `elapsed_ms` of the downloader's `done` event (ours). */
interface BigRun extends Run { elapsedMs?: number }

function freeBytes (dir: string): number {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

async function main (): Promise<number> {
  if (!(runs >= 1 && runs <= 10 && sizeMiB >= 1 && sizeMiB <= 16384)) throw new Error('--runs 1-10, --size 1-16384 MiB')
  const bytes = sizeMiB * MiB
  const free = freeBytes(tmpdir())
  if (free < 2 * bytes + SPARE_BYTES) {
    throw new Error(`not enough disk under ${tmpdir()}: ${(free / 2 ** 30).toFixed(1)} GiB free, need ${((2 * bytes + SPARE_BYTES) / 2 ** 30).toFixed(1)} GiB (the file, one download, 2 GiB spare)`)
  }
  const machine = machineLine()
  return await withTempDir('p2p-big-bench-', async (dir) => {
    const { file, sha1: digest } = await randomPayload(dir, sizeMiB, `${(free / 2 ** 30).toFixed(0)} GiB free; ${machine}`)
    const results: Record<string, BigRun[]> = { p2pshare: [] }

    // Ours: the library copy `share` keeps is the file itself, hard-linked in advance (a 4 GiB copy would double the
    // disk needed and push the file out of the page cache).
    const url = await tracker(dir)
    const library = join(dir, 'lib')
    mkdirSync(library)
    linkSync(file, join(library, digest))
    const sharer = startBg(process.execPath, [CLI, 'share', file, '--port', '0', '--host', '127.0.0.1', '--tracker', url, '--library', library], dir)
    await sharer.waitFor(/(Peer is now online)/, 300_000)
    const torrent = join(dir, 'a.torrent')
    await timed(process.execPath, [CLI, 'create', file, '--tracker', url, '-o', torrent], dir, 300_000)
    const limitMs = 120_000 + sizeMiB * 100
    for (let i = 0; i < runs; i++) {
      const out = join(dir, `ours-${i}`)
      const timedRun = await timed(process.execPath, [CLI, 'download', torrent, '--host', '127.0.0.1', '--out', out, '--json'], dir, limitMs)
      const run: BigRun = { seconds: timedRun.seconds, rssKb: timedRun.rssKb }
      const done = timedRun.stdout.split('\n').find(l => l.includes('"event":"done"'))
      if (done !== undefined) {
        const event = JSON.parse(done) as { elapsed_ms?: number }
        if (event.elapsed_ms !== undefined) run.elapsedMs = event.elapsed_ms
      }
      if (await sha1(join(out, 'payload.bin')) !== digest) throw new Error('p2pshare: wrong bytes')
      rmSync(out, { recursive: true, force: true })
      results.p2pshare?.push(run)
      process.stderr.write(`  p2pshare run ${i + 1}: ${run.seconds.toFixed(2)} s, ${(bytes / MB / run.seconds).toFixed(0)} MB/s, peak RSS ${(run.rssKb / 1024).toFixed(0)} MiB\n`)
    }
    await sharer.stop()

    if (withLibtorrent) {
      results.libtorrent = []
      const urlB = await tracker(dir)
      const torrentB = join(dir, 'b.torrent')
      await timed(process.execPath, [CLI, 'create', file, '--tracker', urlB, '-o', torrentB], dir, 300_000)
      const ltSeed = await libtorrentSeed({ dir, seedDir: join(dir, 'lt-seed'), file, torrent: torrentB, args: ['--max-seconds', String(runs * limitMs / 1000 + 120)] })
      await sleep(1000)
      for (let i = 0; i < runs; i++) {
        const out = join(dir, `lt-${i}`)
        mkdirSync(out)
        const run = await timed(PYTHON, [LT, 'leech', torrentB, out, String(await freePort()), String(limitMs / 1000)], dir, limitMs + 30_000)
        if (await sha1(join(out, 'payload.bin')) !== digest) throw new Error('libtorrent: wrong bytes')
        rmSync(out, { recursive: true, force: true })
        results.libtorrent.push(run)
        process.stderr.write(`  libtorrent run ${i + 1}: ${run.seconds.toFixed(2)} s, ${(bytes / MB / run.seconds).toFixed(0)} MB/s, peak RSS ${(run.rssKb / 1024).toFixed(0)} MiB\n`)
      }
      await ltSeed.stop()
    }

    const rows = Object.entries(results).map(([client, rs]) => {
      const t = median(rs.map(r => r.seconds))
      const elapsed = rs.map(r => r.elapsedMs).filter((x): x is number => x !== undefined)
      return {
        client,
        seconds: t,
        mbps: bytes / MB / t,
        rssMiB: Math.max(...rs.map(r => r.rssKb)) / 1024,
        allRss: rs.map(r => r.rssKb / 1024),
        all: rs.map(r => r.seconds),
        elapsed: elapsed.length === 0 ? undefined : median(elapsed) / 1000
      }
    })
    const ours = rows.find(r => r.client === 'p2pshare')
    const met = ours !== undefined && ours.rssMiB < TARGET_RSS_MIB
    const table = [
      '| downloader (seed of the same kind) | median time | MB/s | peak RSS MiB, highest run | peak RSS per run (MiB) | runs (s) | library elapsed, median |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(r => `| ${r.client} | ${r.seconds.toFixed(2)} s | ${r.mbps.toFixed(0)} | ${r.rssMiB.toFixed(0)} | ${r.allRss.map(x => x.toFixed(0)).join(', ')} | ${r.all.map(x => x.toFixed(2)).join(', ')} | ${r.elapsed === undefined ? '—' : `${r.elapsed.toFixed(2)} s`} |`)
    ].join('\n')
    const verdict = `Target (issue 3, c): downloader peak RSS under ${TARGET_RSS_MIB} MiB — ${ours === undefined ? 'not measured' : `${ours.rssMiB.toFixed(0)} MiB, ${met ? 'met' : 'NOT met'}`}.`
    const head = `Big file 1:1, ${sizeMiB} MiB (${bytes} bytes), loopback, ${runs} run(s), ${machine}, ${new Date().toISOString()}; MB = 10^6 bytes; time = downloader spawn to exit (every piece verified); peak RSS = GNU time %M of the downloader process.`
    process.stdout.write(`${head}\n\n${table}\n\n${verdict}\n`)
    if (record) {
      const resultsDir = join(ROOT, 'bench', 'results')
      mkdirSync(resultsDir, { recursive: true })
      writeFileSync(join(resultsDir, 'big.md'), `# Big file benchmark: peak RSS of the downloader\n\nRecorded with \`node dist/bench/big.js${withLibtorrent ? ' --libtorrent' : ''} --record\` (\`npm run bench:big -- ...\`). ${head}\n\n` +
        'Figures taken on a shared 2-core machine (another engineer was running tests at the same time); the times move with the load, the RSS much less.\n\n' +
        `${table}\n\n${verdict}\n\n` +
        'How: `p2pshare share FILE --host 127.0.0.1` seeds (its library copy hard-linked to the file in advance); `p2pshare download FILE.torrent --host 127.0.0.1 --json` runs under `/usr/bin/time -f %M`; "library elapsed" is the `elapsed_ms` of its `done` event (no process start). ' +
        (withLibtorrent ? 'libtorrent: `lt_client.py seed` / `leech` the same way; its RSS counts the pages of the file it maps (see `../shared/anchors/REPORT.md`), so it grows with the file and is not heap. ' : '') +
        'Each download is checked by SHA-1 and deleted; the temp folder is removed at the end.\n')
      process.stderr.write('bench: wrote bench/results/big.md\n')
    }
    return met ? 0 : 2
  })
}

runMain(main)
