/**
 * The address a sharing peer registers. The seed uses its outbound LAN address; to find it we read the interfaces
 * (no packet sent anywhere). A tracker on loopback gets 127.0.0.1, since that is how its peers reach each other.
 */
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'

export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
}

export function defaultAdvertiseIp (trackerBaseUrl: string): string {
  const host = new URL(trackerBaseUrl).hostname
  if (isLoopbackHost(host)) return '127.0.0.1'
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address
    }
  }
  return '127.0.0.1'
}
