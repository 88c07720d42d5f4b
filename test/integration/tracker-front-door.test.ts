import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createHttpServer, get, type Server as HttpServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { createFrontDoor, MAX_HEAD_BYTES, readHead, type FrontDoor } from '../../src/tracker/front-door.js'

/**
 * The front door answers GET /announce and /scrape itself and hands every other request, with its connection and the
 * bytes already read, to the general server — here a plain http server that echoes what it got.
 */
describe('tracker front door', () => {
  let fallback: HttpServer
  let door: FrontDoor
  let port: number
  const seen: string[] = []

  before(async () => {
    fallback = createHttpServer((req, res) => {
      let body = ''
      req.setEncoding('latin1')
      req.on('data', (d: string) => { body += d })
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain')
        res.end(`fallback ${req.method ?? ''} ${req.url ?? ''} body=${body}`)
      })
    })
    door = createFrontDoor({
      fallback,
      announce: (target, ip) => { seen.push(`announce ${target} ${ip ?? ''}`); return Buffer.from(`d5:route8:announce6:target${target.length}:${target}e`) },
      scrape: (target) => Buffer.from(`scrape ${target}`),
      maxConnections: 100,
      idleTimeoutMs: 2000
    })
    await new Promise<void>((resolve) => { door.server.listen(0, '127.0.0.1', resolve) })
    port = (door.server.address() as AddressInfo).port
  })

  after(async () => {
    door.closeConnections()
    fallback.closeAllConnections()
    await new Promise<void>((resolve) => { door.server.close(() => { resolve() }) })
  })

  /** Writes raw bytes (optionally in pieces), reads until the server closes or `until` matches; bounded by 3 s. */
  async function exchange (parts: Array<string | Buffer>, until?: RegExp): Promise<string> {
    return await new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      let got = ''
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete reply in 3 s; got: ${got}`)) }, 3000)
      const finish = (): void => { clearTimeout(timer); socket.destroy(); resolve(got) }
      socket.setEncoding('latin1')
      socket.on('data', (d: string) => { got += d; if (until?.test(got) === true) finish() })
      socket.on('end', finish)
      socket.on('error', reject)
      socket.on('connect', () => {
        const write = (i: number): void => {
          if (i === parts.length) return
          socket.write(parts[i] as string | Buffer, () => { setTimeout(() => { write(i + 1) }, 5) })
        }
        write(0)
      })
    })
  }

  test('answers an announce in one reply with the peer\'s address, and closes on Connection: close', async () => {
    const reply = await exchange(['GET /announce?info_hash=x&port=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'])
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: \d+\r\nConnection: close\r\n\r\n/)
    assert.ok(reply.endsWith('d5:route8:announce6:target28:/announce?info_hash=x&port=1e'))
    assert.equal(seen.at(-1), 'announce /announce?info_hash=x&port=1 127.0.0.1')
  })

  test('pipelined requests are answered in order, also when split at every byte', async () => {
    const two = 'GET /announce?a=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /scrape?b=2 HTTP/1.1\r\nhost: t\r\nCONNECTION: Close\r\n\r\n'
    const whole = await exchange([two])
    assert.equal(whole.match(/HTTP\/1\.1 200 OK/g)?.length, 2)
    assert.ok(whole.indexOf('/announce?a=1') < whole.indexOf('scrape /scrape?b=2'))
    for (const at of [1, 5, 17, 38, 39, 40, 41, 60, two.length - 1]) {
      const split = await exchange([two.slice(0, at), two.slice(at)])
      assert.equal(split, whole.replace(/Content-Length: \d+/g, (m) => m), `split at ${at}`)
    }
  })

  test('HTTP/1.0 closes unless it asks for keep-alive; 1.1 keeps the connection', async () => {
    const closed = await exchange(['GET /announce HTTP/1.0\r\n\r\n'])
    assert.match(closed, /Connection: close/)
    const kept = await exchange(['GET /announce HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], /e$/)
    assert.match(kept, /Connection: keep-alive/)
  })

  test('every other request goes to the general server with its bytes, also mid-connection', async () => {
    const post = await exchange(['POST /register HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'])
    assert.match(post, /fallback POST \/register body=hello$/)
    const mixed = await exchange(['GET /announce?z=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /files?q=a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'])
    assert.match(mixed, /target13:\/announce\?z=1e/)
    assert.match(mixed, /fallback GET \/files\?q=a body=$/)
    // An announce with a body, an unknown Connection value, a lookalike path, a lower-case method: not ours.
    for (const head of [
      'GET /announce HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab',
      'GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
      'GET /announcement HTTP/1.1\r\nConnection: close\r\n\r\n',
      'get /announce HTTP/1.1\r\nConnection: close\r\n\r\n'
    ]) {
      const reply = await exchange([head])
      assert.doesNotMatch(reply, /route8:announce/, head)
    }
  })

  test('a head longer than the bound goes to the general server, which refuses it', async () => {
    const long = `GET /announce?${'x'.repeat(MAX_HEAD_BYTES)} HTTP/1.1\r\nHost: t\r\n`
    const reply = await exchange([long, 'X-More: 1\r\nConnection: close\r\n\r\n'])
    assert.match(reply, /fallback GET \/announce\?x+ body=$/)
  })

  test('a head trickled in slower than the head timeout costs the connection', async () => {
    const slow = createFrontDoor({ fallback, announce: () => Buffer.from('x'), scrape: () => Buffer.from('y'), maxConnections: 10, idleTimeoutMs: 5000, headTimeoutMs: 150 })
    await new Promise<void>((resolve) => { slow.server.listen(0, '127.0.0.1', resolve) })
    try {
      const socket = connect((slow.server.address() as AddressInfo).port, '127.0.0.1')
      const closed = new Promise<string>((resolve) => {
        let got = ''
        socket.setEncoding('latin1')
        socket.on('data', (d: string) => { got += d })
        socket.on('close', () => { resolve(got) })
        socket.on('error', () => {})
      })
      await new Promise<void>((resolve) => { socket.once('connect', resolve) })
      socket.write('GET /announce?a=1 HT')
      await new Promise((resolve) => setTimeout(resolve, 100))
      socket.write('TP/1.1\r\nHost')
      await new Promise((resolve) => setTimeout(resolve, 100))
      socket.write(': t\r\n')
      const got = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => { resolve('still open') }, 3000))])
      assert.equal(got, '', 'closed without a reply')
    } finally {
      slow.destroyConnections()
      await new Promise<void>((resolve) => { slow.server.close(() => { resolve() }) })
    }
  })

  test('readHead reads only well-formed GET heads of its two routes', () => {
    const head = (text: string): ReturnType<typeof readHead> => {
      const buf = Buffer.from(text, 'latin1')
      return readHead(buf, 0, buf.indexOf('\r\n\r\n'))
    }
    assert.deepEqual(head('GET /scrape HTTP/1.1\r\n\r\n'), { route: 'scrape', target: '/scrape', keepAlive: true })
    assert.equal(head('GET /announce HTTP/2.0\r\n\r\n'), undefined)
    assert.equal(head('GET /announce?a=\u00e9 HTTP/1.1\r\n\r\n'), undefined)
    assert.equal(head('GET /announce HTTP/1.1\r\nExpect: 100-continue\r\n\r\n'), undefined)
    assert.equal(head('GET /announce HTTP/1.1\r\nBroken header line\r\n\r\n'), undefined)
    assert.equal(head('GET /announce HTTP/1.1\r\nConnection: upgrade\r\n\r\n'), undefined)
  })

  test('a plain http client gets the same reply through the front door', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/scrape?info_hash=q' }, (res) => {
        let text = ''
        res.setEncoding('latin1')
        res.on('data', (d: string) => { text += d })
        res.on('end', () => { resolve(text) })
      }).on('error', reject)
    })
    assert.equal(body, 'scrape /scrape?info_hash=q')
  })
})
