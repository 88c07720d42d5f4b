/** Identifiers of a file: the seed's file hash (SHA-1 of the whole file, 40 lowercase hex). */

const HEX40 = /^[0-9a-fA-F]{40}$/

/** True for a 40-digit hexadecimal string in either case. */
export function isHex40 (value: string): boolean {
  return HEX40.test(value)
}

/** The canonical form of a file hash (lowercase), or undefined if `value` is not one. */
export function parseFileHash (value: string): string | undefined {
  return isHex40(value) ? value.toLowerCase() : undefined
}
