/**
 * A small HTTP client on node:http for tracker calls. Not the global `fetch`: in a short-lived process its
 * WebAssembly HTTP parser is compiled in the background and holds the process ~0.15 s past its last call, with
 * ~30 MB of RSS (measured with the legacy benchmark, bench/results/legacy.md).
 */
import { request as httpRequestRaw, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequestRaw } from 'node:https'
import { AbortError, P2PError, systemErrorCode } from '../errors.js'

export interface HttpReply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface HttpOptions {
  method?: 'GET' | 'POST'
  body?: string | Buffer
  headers?: Record<string, string>
  timeoutMs: number
  /** Replies longer than this are refused (ERR_REPLY_TOO_LARGE) without reading the rest. */
  maxBytes: number
  signal?: AbortSignal
}

/** OpenSSL's codes for a certificate the client does not trust, or that does not name the host. */
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/

/**
 * The reason a request failed: the system code (ECONNREFUSED, …); for an HTTPS tracker whose certificate is not
 * trusted, what to do about it (a private CA's certificate is trusted through NODE_EXTRA_CA_CERTS, read by Node).
 */
function requestErrorText (err: Error): string {
  const code = systemErrorCode(err)
  if (code !== undefined && CERTIFICATE_ERROR.test(code)) {
    return `TLS certificate not accepted: ${err.message} (${code}); if the tracker's certificate is from a private CA, set NODE_EXTRA_CA_CERTS=<its CA file>`
  }
  return code ?? err.message
}

/** One request. Rejects with a P2PError: ERR_HTTP_UNREACHABLE (with the system code), ERR_HTTP_TIMEOUT, ERR_REPLY_TOO_LARGE. */
export async function httpRequest (url: string, options: HttpOptions): Promise<HttpReply> {
  if (options.signal?.aborted === true) throw new AbortError()
  const target = new URL(url)
  const send = target.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw
  return await new Promise<HttpReply>((resolve, reject) => {
    let settled = false
    const finish = (err: Error | undefined, reply?: HttpReply): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      if (err !== undefined) { req.destroy(); reject(err) } else resolve(reply as HttpReply)
    }
    const onAbort = (): void => { finish(new AbortError()) }
    const body = options.body === undefined ? undefined : Buffer.from(options.body)
    const req = send(target, {
      method: options.method ?? 'GET',
      headers: { ...options.headers, ...(body === undefined ? {} : { 'content-length': String(body.length) }) },
      agent: false
    }, (res) => {
      const declared = Number(res.headers['content-length'] ?? '0')
      if (declared > options.maxBytes) { finish(new P2PError('ERR_REPLY_TOO_LARGE', `reply of ${declared} bytes (cap ${options.maxBytes})`)); return }
      const parts: Buffer[] = []
      let length = 0
      res.on('data', (chunk: Buffer) => {
        length += chunk.length
        if (length > options.maxBytes) { finish(new P2PError('ERR_REPLY_TOO_LARGE', `reply above ${options.maxBytes} bytes`)); return }
        parts.push(chunk)
      })
      res.on('end', () => { finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts, length) }) })
      res.on('error', (err) => { finish(new P2PError('ERR_HTTP_UNREACHABLE', systemErrorCode(err) ?? err.message, { cause: err })) })
    })
    const timer = setTimeout(() => { finish(new P2PError('ERR_HTTP_TIMEOUT', `no answer within ${options.timeoutMs} ms`)) }, options.timeoutMs)
    req.on('error', (err) => { finish(new P2PError('ERR_HTTP_UNREACHABLE', requestErrorText(err), { cause: err })) })
    options.signal?.addEventListener('abort', onAbort, { once: true })
    req.end(body)
  })
}
