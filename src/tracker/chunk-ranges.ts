/**
 * A peer's chunk ids, stored compactly. A seed-README peer lists one id per KiB of its file (a million
 * ids for 1 GiB), nearly always 0..n-1, so the store keeps runs of consecutive ids: the text
 * `0-1023,2000,2005-2010` (inclusive runs, ascending, comma separated). Lookups expand it again.
 */

/** Inclusive run of chunk ids. */
export type ChunkRange = readonly [first: number, last: number]

/** Runs of an ascending list of distinct ids. */
export function rangesOf (sortedIds: ArrayLike<number>): ChunkRange[] {
  const ranges: ChunkRange[] = []
  const n = sortedIds.length
  let i = 0
  while (i < n) {
    const first = sortedIds[i] as number
    let last = first
    while (i + 1 < n && sortedIds[i + 1] === last + 1) {
      i++
      last++
    }
    ranges.push([first, last])
    i++
  }
  return ranges
}

/** The stored text of a list of runs. */
export function encodeRanges (ranges: readonly ChunkRange[]): string {
  return ranges.map(([first, last]) => first === last ? String(first) : `${first}-${last}`).join(',')
}

/** Runs back from their stored text. Throws on text this module did not write. */
export function decodeRanges (text: string): ChunkRange[] {
  if (text === '') return []
  return text.split(',').map((part) => {
    const dash = part.indexOf('-')
    const first = Number(dash === -1 ? part : part.slice(0, dash))
    const last = dash === -1 ? first : Number(part.slice(dash + 1))
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first) {
      throw new RangeError(`corrupt chunk range ${JSON.stringify(part)}`)
    }
    return [first, last] as const
  })
}

/** How many ids a list of runs holds. */
export function countRanges (ranges: readonly ChunkRange[]): number {
  let count = 0
  for (const [first, last] of ranges) count += last - first + 1
  return count
}

/** Every id of a list of runs, ascending. */
export function expandRanges (ranges: readonly ChunkRange[]): number[] {
  const ids = new Array<number>(countRanges(ranges))
  let k = 0
  for (const [first, last] of ranges) {
    for (let id = first; id <= last; id++) ids[k++] = id
  }
  return ids
}
