/**
 * One page of a catalogue search (`GET /files`): the files whose name contains `q`, sorted, paged, and how many
 * matched in all.
 *
 * Every sort runs in SQLite (store.pageFiles). Seeders live in memory (the announce swarms): that sort asks them through
 * an SQL function, once per matching file with an info hash, and SQLite keeps only a top-N of (seeders, seq) pairs.
 * Linear in the matches (at most TRACKER_MAX_FILES); only the page's rows are read in full. Measured with 100,000
 * files on 2 cores: see docs/tracker-api.md.
 */
import type { CatalogueQuery } from './catalogue-query.js'
import type { FileSummary, SeedersOf, TrackerStore } from './store.js'

export interface CataloguePage {
  files: FileSummary[]
  /** Matches before paging. */
  total: number
}

/** The page of `query`; `seedersOf` gives the live seeders of an info hash. */
export function searchCatalogue (store: TrackerStore, seedersOf: SeedersOf, query: CatalogueQuery): CataloguePage {
  // One read transaction: the count and the page see the same catalogue, even with a writer in another process.
  return store.snapshot(() => {
    const total = store.countFiles(query.q)
    if (query.offset >= total) return { files: [], total }
    const files = store.pageFiles({
      q: query.q,
      order: query.order,
      limit: query.limit,
      offset: query.offset,
      ...(query.sort === undefined ? {} : { sort: query.sort })
    }, seedersOf)
    return { files, total }
  })
}
