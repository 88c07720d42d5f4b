/** Option parsers shared by the commands: each rejects bad input with a one-line usage error. */
import { InvalidArgumentError } from 'commander'

export function parseIntIn (min: number, max: number, what: string): (value: string) => number {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}.`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}.`)
    return n
  }
}

export const parsePort = parseIntIn(0, 65535, 'port')

/** A rate limit in KiB/s: a number with up to three decimals (10 MB/s is 9765.625), 0 meaning none. */
export function parseRateLimit (what: string): (value: string) => number {
  const max = 10_000_000
  return (value: string): number => {
    if (!/^\d+(\.\d{1,3})?$/.test(value) || Number(value) > max) {
      throw new InvalidArgumentError(`${what} must be a number of KiB/s from 0 to ${max} (e.g. 512 or 9765.625; 0: none).`)
    }
    return Number(value)
  }
}

export function parseChoice<T extends string> (choices: readonly T[], what: string): (value: string) => T {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${what} must be one of: ${choices.join(', ')}.`)
    return value as T
  }
}
