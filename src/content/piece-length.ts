/**
 * BitTorrent piece length (BEP 3: "almost always a power of two") chosen from the content's total size.
 *
 * We follow libtorrent 2.x (`create_torrent`, piece size 0 = automatic), the library inside qBittorrent and Deluge
 * and so the most widely deployed torrent creator. Its rule: let the list of piece hashes grow like the square root of
 * the content, about 2·√size bytes, i.e. about √size / 10 pieces of about 10·√size bytes each; take the smallest
 * power of two from 16 KiB that is at least that, at most 16 MiB. (Its table of thresholds is p² / 100, rounded, for
 * each power of two p; we compute the same thresholds.)
 *
 * Why this rule rather than the others we looked at:
 * - Transmission (`makemeta`, up to 4.0) uses a step table from 32 KiB (under 50 MiB) to 2 MiB (2 GiB and over): a
 *   100 GiB folder gets 51,200 pieces and a 1 MiB hash list, and nothing above 2 MiB.
 * - WebTorrent (`create-torrent` via `piece-length`) aims at about 1024 pieces (size / 1024 rounded to a power of
 *   two, at least 16 KiB) with no upper bound: 1 TiB gets 1 GiB pieces, which no client can hold in memory.
 * - libtorrent's square root keeps both the piece count and the .torrent small across the whole range, small files get
 *   small pieces (fast first piece, little waste), and its bounds are exactly DESIGN.md's 16 KiB to 16 MiB.
 *
 * | total size | piece length | pieces |
 * |---|---|---|
 * | up to 2.56 MiB | 16 KiB | up to 164 |
 * | 100 MiB | 128 KiB | 800 |
 * | 1 GiB | 512 KiB | 2,048 |
 * | 10 GiB | 1 MiB | 10,240 |
 * | 100 GiB | 4 MiB | 25,600 |
 * | over 655 GiB | 16 MiB | |
 */

export const KIB = 1024
export const MIB = 1024 * 1024

/** Smallest piece length we create: one BitTorrent block (BEP 52 requires at least this too). */
export const MIN_PIECE_LENGTH = 16 * KIB
/** Largest piece length we create: a piece is held in memory while it is verified. */
export const MAX_PIECE_LENGTH = 16 * MIB

/** True for a power of two from `min` to `max` (defaults: the bounds we create with). */
export function isPieceLength (n: number, min = MIN_PIECE_LENGTH, max = MAX_PIECE_LENGTH): boolean {
  return Number.isSafeInteger(n) && n >= min && n <= max && (n & (n - 1)) === 0
}

/** The piece length for content of `totalSize` bytes (libtorrent 2.x's rule, see above). */
export function pieceLengthFor (totalSize: number): number {
  let piece = MIN_PIECE_LENGTH
  // The largest size a piece length p serves: a hash list of 2·√size bytes means size = (2 · p / 20)² = p² / 100.
  while (piece < MAX_PIECE_LENGTH && totalSize > Math.round(piece * piece / 100)) piece *= 2
  return piece
}

/** Pieces of `pieceLength` that cover `totalSize` bytes; the last one may be short. */
export function pieceCountFor (totalSize: number, pieceLength: number): number {
  return Math.ceil(totalSize / pieceLength)
}

/**
 * A piece length as a user types it: bytes (`262144`) or with a binary suffix (`256K`, `256KiB`, `1M`, `1MiB`).
 * Returns undefined when the text is not a number of that form (range is the caller's check, with isPieceLength).
 */
export function parsePieceLength (text: string): number | undefined {
  const m = /^\s*(\d{1,12})\s*(k|kib|m|mib)?\s*$/i.exec(text)
  if (m === null) return undefined
  const unit = (m[2] ?? '').toLowerCase()
  return Number(m[1]) * (unit.startsWith('k') ? KIB : unit.startsWith('m') ? MIB : 1)
}
