/**
 * The tracker's web page: `GET /` (index.html), `/web/app.js` and `/web/style.css`, plain files with no build step,
 * kept in src/tracker/web/ (package.json `files` ships them) and read once when the app is built.
 *
 * Every reply carries a strict Content-Security-Policy (scripts, styles and fetches from this origin only; no inline
 * script, no frames, no other origin), `nosniff` and no referrer (a page URL may hold a passkey). The files are
 * revalidated on every load (`no-cache` with an ETag; a 304 when unchanged): without a build step their names carry
 * no version, so a long max-age would keep an old page after an upgrade.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { P2PError } from '../errors.js'

/**
 * The folder of the page's files. This module runs from dist/src/tracker/ (compiled), in the repository or in an
 * installed package, and the files are not compiled: they stay in src/tracker/web/ under the package root.
 */
export const WEB_DIR = fileURLToPath(new URL('../../../src/tracker/web/', import.meta.url))

export const WEB_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')

interface WebFile {
  body: Buffer
  type: string
  etag: string
}

const FILES: ReadonlyArray<{ route: string, file: string, type: string }> = [
  { route: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { route: '/web/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { route: '/web/style.css', file: 'style.css', type: 'text/css; charset=utf-8' }
]

function load (dir: string, file: string, type: string): WebFile {
  let body: Buffer
  try {
    body = readFileSync(`${dir}${file}`)
  } catch (err) {
    throw new P2PError('ERR_INPUT', `The tracker's web page is missing (${dir}${file}): reinstall p2pshare`, { cause: err })
  }
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` }
}

/** Whether an If-None-Match header names this ETag (or `*`). */
function matches (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t === etag || t === `W/${etag}`
  })
}

export function registerWebRoutes (app: FastifyInstance, dir = WEB_DIR): void {
  for (const { route, file, type } of FILES) {
    const web = load(dir, file, type)
    app.get(route, (request, reply) => {
      void reply
        .header('content-security-policy', WEB_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .header('etag', web.etag)
      if (matches(request.headers['if-none-match'], web.etag)) {
        void reply.code(304).send()
        return
      }
      void reply.type(web.type).send(web.body)
    })
  }
}
