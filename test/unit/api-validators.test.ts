/**
 * The node API's precompiled request validators (src/api/validators.ts, validators.generated.ts): every schema the app
 * compiles has one (so start-up never loads Ajv), the file is what the schemas and the installed Ajv make today, and
 * a precompiled validator answers every request exactly as fastify's own Ajv compiler does (same status, same body).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { buildNodeApp, transmissionRpc } from '../../src/api/index.js'
import { generateValidatorSource } from '../../src/api/validator-codegen.js'
import { generatedWith, precompiledValidators, validatorKey, type ValidatorRoute } from '../../src/api/validators.js'
import { validators } from '../../src/api/validators.generated.js'
import { ucs2length } from '../../src/api/ucs2length.js'
import { FakeSession } from '../helpers/fake-session.js'

const HOST = '127.0.0.1:9091'
const HASH = 'a'.repeat(40)

async function app (buildValidator: ReturnType<typeof precompiledValidators>): Promise<FastifyInstance> {
  const session = new FakeSession()
  return await buildNodeApp({ session, port: 9091, plugins: [transmissionRpc({ session, sessionId: () => 'x' })], schemaCompilers: { buildValidator } })
}

/** Requests that each schema's keywords decide: wrong types, unknown fields, bounds, patterns, oneOf, dependencies. */
const long = (n: number, c = 'x'): string => c.repeat(n)
const CASES: Array<[NonNullable<InjectOptions['method']>, string, unknown?]> = [
  ['GET', '/api/v1/torrents'],
  ['GET', '/api/v1/torrents?state=seeding'],
  ['GET', '/api/v1/torrents?state=nope'],
  ['GET', '/api/v1/torrents?other=1'],
  ['GET', '/api/v1/torrents/1'],
  ['GET', `/api/v1/torrents/${HASH}`],
  ['GET', `/api/v1/torrents/${HASH.toUpperCase()}`],
  ['GET', '/api/v1/torrents/0'],
  ['GET', '/api/v1/torrents/1234567890123456'],
  ['GET', '/api/v1/torrents/abc'],
  ['POST', '/api/v1/torrents', {}],
  ['POST', '/api/v1/torrents', []],
  ['POST', '/api/v1/torrents', 'null'],
  ['POST', '/api/v1/torrents', '"text"'],
  ['POST', '/api/v1/torrents', { paused: true }],
  ['POST', '/api/v1/torrents', { magnet: HASH }],
  ['POST', '/api/v1/torrents', { magnet: HASH, path: '/x' }],
  ['POST', '/api/v1/torrents', { magnet: 'http://x' }],
  ['POST', '/api/v1/torrents', { magnet: 5 }],
  ['POST', '/api/v1/torrents', { magnet: `magnet:?xt=urn:btih:${HASH}`, paused: 'yes' }],
  ['POST', '/api/v1/torrents', { magnet: `magnet:?${long(70_000)}` }],
  ['POST', '/api/v1/torrents', { torrent: 'abc' }],
  ['POST', '/api/v1/torrents', { torrent: 'ab$=' }],
  ['POST', '/api/v1/torrents', { path: '' }],
  ['POST', '/api/v1/torrents', { path: 'a\u0000b' }],
  ['POST', '/api/v1/torrents', { path: long(4096) }],
  ['POST', '/api/v1/torrents', { path: long(4097) }],
  // maxLength counts code points: 4096 astral characters are 8192 UTF-16 units, still within 4096.
  ['POST', '/api/v1/torrents', { path: long(4096, '\u{1F600}') }],
  ['POST', '/api/v1/torrents', { path: long(4097, '\u{1F600}') }],
  ['POST', '/api/v1/torrents', { catalogue: '' }],
  ['POST', '/api/v1/torrents', { magnet: HASH, limits: { uploadLimit: 0 } }],
  ['POST', '/api/v1/torrents', { magnet: HASH, limits: { uploadLimit: 1.5 } }],
  ['POST', '/api/v1/torrents', { magnet: HASH, limits: { seedRatioLimit: 0.5, other: 1 } }],
  ['POST', '/api/v1/torrents', { magnet: HASH, extra: true }],
  ['POST', '/api/v1/torrents/1/pause', {}],
  ['POST', '/api/v1/torrents/1/pause', { x: 1 }],
  ['POST', '/api/v1/torrents/1/queue', { move: 'top' }],
  ['POST', '/api/v1/torrents/1/queue', { move: 'sideways' }],
  ['POST', '/api/v1/torrents/1/queue', {}],
  ['PATCH', '/api/v1/torrents/1', {}],
  ['PATCH', '/api/v1/torrents/1', { moveData: true }],
  ['PATCH', '/api/v1/torrents/1', { moveData: true, downloadDir: '/d' }],
  ['PATCH', '/api/v1/torrents/1', { limits: { downloadLimit: null } }],
  ['DELETE', '/api/v1/torrents/1?deleteData=yes'],
  ['DELETE', '/api/v1/torrents/1?deleteData=true'],
  ['PATCH', '/api/v1/session', {}],
  ['PATCH', '/api/v1/session', { maxActiveDownloads: 0 }],
  ['PATCH', '/api/v1/session', { maxActiveSeeds: '5' }],
  ['PATCH', '/api/v1/session', { watchDir: null }],
  ['PATCH', '/api/v1/session', { watchDir: 5 }],
  ['PATCH', '/api/v1/session', { port: 1 }],
  ['GET', '/api/v1/free-space'],
  ['GET', '/api/v1/free-space?path=%00'],
  ['GET', `/api/v1/events?token=${long(5000)}`],
  ['GET', '/api/v1/events?token=&x=1']
]

async function answer (fastify: FastifyInstance, [method, url, body]: typeof CASES[number]): Promise<string> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const res = await fastify.inject({
    method,
    url,
    headers: { host: HOST, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(payload === undefined ? {} : { payload })
  })
  // What a validator decides: accepted (the handler's reply, which holds times, is not compared) or the refusal itself.
  return res.statusCode < 400 ? `${res.statusCode} accepted` : `${res.statusCode} ${res.body}`
}

describe('precompiled validators', () => {
  test('every schema the node app compiles has a precompiled validator: Ajv is never loaded at start-up', async () => {
    const missed: string[] = []
    const fastify = await app(precompiledValidators({ onMiss: (route: ValidatorRoute) => { missed.push(`${route.method} ${route.url} ${route.httpPart ?? ''}`) } }))
    await fastify.close()
    assert.deepEqual(missed, [], 'run npm run build (scripts/build-validators.mjs) to make src/api/validators.generated.ts again')
  })

  test('validators.generated.ts is what the schemas and the installed Ajv make now', async () => {
    const now = await generateValidatorSource()
    assert.deepEqual(Object.keys(validators).sort(), now.keys, 'run npm run build to make src/api/validators.generated.ts again')
    assert.equal(generatedWith, now.generatedWith, 'Ajv changed: run npm run build to make src/api/validators.generated.ts again')
  })

  test('a precompiled validator answers every request as fastify\'s own Ajv compiler does', async () => {
    const precompiled = await app(precompiledValidators())
    // An empty table: every schema compiled at start-up by fastify's compiler, as before validators.generated.ts.
    const compiled = await app(precompiledValidators({ table: {} }))
    try {
      for (const c of CASES) {
        assert.equal(await answer(precompiled, c), await answer(compiled, c), `${c[0]} ${c[1]} ${JSON.stringify(c[2] ?? '').slice(0, 80)}`)
      }
    } finally {
      await precompiled.close()
      await compiled.close()
    }
  })

  test('a schema without a precompiled validator is compiled at start-up, and validates', async () => {
    const missed: string[] = []
    const fastify = await app(precompiledValidators({ table: {}, onMiss: (_route: ValidatorRoute, key: string) => { missed.push(key) } }))
    try {
      assert.ok(missed.length >= 10, `${missed.length} schemas compiled`)
      assert.equal((await fastify.inject({ url: '/api/v1/torrents/abc', headers: { host: HOST } })).statusCode, 400)
    } finally {
      await fastify.close()
    }
  })

  test('the key of a validator follows its schema, its HTTP part and the Ajv options, not the code generator\'s', () => {
    const route = { httpPart: 'body', schema: { type: 'object' } }
    const key = validatorKey(route, {}, { customOptions: { strict: true } })
    assert.equal(validatorKey(route, {}, { customOptions: { strict: true, code: { source: true } } }), key)
    assert.notEqual(validatorKey({ ...route, httpPart: 'querystring' }, {}, { customOptions: { strict: true } }), key)
    assert.notEqual(validatorKey({ ...route, schema: { type: 'array' } }, {}, { customOptions: { strict: true } }), key)
    assert.notEqual(validatorKey(route, {}, { customOptions: { strict: false } }), key)
  })

  test('ucs2length counts code points as Ajv does: a surrogate pair is one, a lone surrogate is one', () => {
    assert.equal(ucs2length(''), 0)
    assert.equal(ucs2length('abc'), 3)
    assert.equal(ucs2length('\u{1F600}x'), 2)
    assert.equal(ucs2length('\ud800'), 1)
    assert.equal(ucs2length('\ud800x'), 2)
    assert.equal(ucs2length('\udc00\ud800'), 2)
  })
})
