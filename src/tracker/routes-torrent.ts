/**
 * `GET /torrent/<info hash>`: the metainfo (.torrent) a registration uploaded for a file, byte for byte as uploaded,
 * so a client holding only a name, a hash or a magnet link can get the whole torrent from the tracker without asking
 * peers for it (BEP 9).
 */
import type { FastifyInstance } from 'fastify'
import { isHex40 } from '../content/index.js'
import { HttpError } from './http-errors.js'
import type { TrackerStore } from './store.js'

export interface TorrentRoutesContext {
  store: TrackerStore
}

/** Characters left as they are in the ASCII `filename` of Content-Disposition (RFC 6266): printable, no quote or backslash. */
const PLAIN_FILENAME = /[^\x20-\x7e]|["\\]/g

/**
 * `attachment` with the torrent's name: `<file name>.torrent`, as `filename` (ASCII, anything else replaced by `_`)
 * and `filename*` (RFC 5987: the UTF-8 name percent-encoded), which every current browser prefers.
 */
export function contentDisposition (fileName: string): string {
  const name = `${fileName}.torrent`
  const ascii = name.replace(PLAIN_FILENAME, '_')
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`
}

export function registerTorrentRoutes (app: FastifyInstance, { store }: TorrentRoutesContext): void {
  app.get('/torrent/:infoHash', async (request, reply) => {
    const infoHash = (request.params as { infoHash?: string }).infoHash ?? ''
    if (!isHex40(infoHash)) throw new HttpError(400, 'Invalid parameter: info_hash: must be 40 hexadecimal characters (a SHA-1)')
    const stored = store.metainfoOf(infoHash.toLowerCase())
    if (stored === undefined) {
      throw new HttpError(404, store.fileByInfoHash(infoHash.toLowerCase()) === undefined
        ? 'File not found'
        : 'No metainfo for this file: no registration uploaded its .torrent')
    }
    return await reply
      .type('application/x-bittorrent')
      .header('content-disposition', contentDisposition(stored.fileName))
      .send(stored.metainfo)
  })
}
