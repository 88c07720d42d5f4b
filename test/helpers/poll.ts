/**
 * Waiting on something outside the test's process (a reference client's state, a tracker's counts) by asking again
 * and again, bounded in time and in attempts.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { scrape, type ScrapeStats } from '../../src/discovery/index.js'

/**
 * Calls `check` every `intervalMs` until it returns something other than `undefined`, and resolves with that.
 * Rejects after `timeoutMs` naming `what`, with `describe()` (the state seen last) and the last error `check` threw;
 * at once when `giveUpIf()` gives a reason (say, the process being watched has exited).
 */
export async function pollUntil<T> (
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number, intervalMs?: number, describe?: () => string, giveUpIf?: () => string | undefined } = {}
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const intervalMs = options.intervalMs ?? 250
  const deadline = Date.now() + timeoutMs
  const maxAttempts = Math.ceil(timeoutMs / intervalMs) + 1
  let last = ''
  for (let attempt = 0; attempt < maxAttempts && Date.now() <= deadline; attempt++) {
    const reason = options.giveUpIf?.()
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}`)
    try {
      const value = await check()
      if (value !== undefined) return value
      last = ''
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(intervalMs)
  }
  const seen = [options.describe?.() ?? '', last].filter(s => s !== '').join('; ')
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen === '' ? '' : `\nlast seen: ${seen}`}`)
}

/**
 * Scrapes a BitTorrent tracker (BEP 48, our client) until the swarm of `infoHash` has at least `want.complete` seeders
 * and `want.incomplete` leechers; resolves with the counts.
 */
export async function waitForSwarm (announceUrl: string, infoHash: string, want: { complete?: number, incomplete?: number }, timeoutMs = 30_000): Promise<ScrapeStats> {
  let seen = 'no scrape reply'
  return await pollUntil(`${JSON.stringify(want)} in the swarm of ${infoHash} at ${announceUrl}`, async () => {
    const stats = (await scrape(announceUrl, [infoHash], { timeoutMs: 5_000 })).get(infoHash.toLowerCase())
    seen = JSON.stringify(stats ?? 'unknown to the tracker')
    if (stats === undefined) return undefined
    return stats.complete >= (want.complete ?? 0) && stats.incomplete >= (want.incomplete ?? 0) ? stats : undefined
  }, { timeoutMs, intervalMs: 250, describe: () => seen })
}
