/**
 * Intrusive doubly linked lists in order of use: each node carries its own `older` and `newer` links and the list is
 * just its two ends, so appending, moving a node to the newest end, removing one and finding the oldest are O(1) and
 * allocate nothing. The swarms keep their peers in announce order and themselves in order of activity this way, the
 * rate limiter its clients' buckets.
 */

export interface RecencyNode<T> {
  older: T | undefined
  newer: T | undefined
}

/** The two ends of a list (an object of its own, or fields of the object that owns the list). */
export interface RecencyEnds<T> {
  oldest: T | undefined
  newest: T | undefined
}

/** Appends a node that is in no list at the newest end. */
export function pushNewest<T extends RecencyNode<T>> (list: RecencyEnds<T>, node: T): void {
  node.older = list.newest
  node.newer = undefined
  if (list.newest === undefined) list.oldest = node
  else list.newest.newer = node
  list.newest = node
}

/** Takes a node out of the list; its links are cleared. */
export function unlink<T extends RecencyNode<T>> (list: RecencyEnds<T>, node: T): void {
  if (node.older === undefined) list.oldest = node.newer
  else node.older.newer = node.newer
  if (node.newer === undefined) list.newest = node.older
  else node.newer.older = node.older
  node.older = undefined
  node.newer = undefined
}

/** Moves a node of the list to the newest end. */
export function touch<T extends RecencyNode<T>> (list: RecencyEnds<T>, node: T): void {
  if (list.newest === node) return
  unlink(list, node)
  pushNewest(list, node)
}
