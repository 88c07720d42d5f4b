/**
 * The OpenAPI 3.1 document of the node API (`GET /api/v1/openapi.json`), made from the routes themselves: every route
 * registered with `config.docs` is listed with the very schemas it validates with (params, query, body), so the
 * document cannot drift from what the API accepts. Like every route, it needs the API's credentials when they are
 * configured: one rule, no list of exceptions to audit (the same text is in docs/api.md for anyone without them).
 */
import type { FastifyInstance, HTTPMethods } from 'fastify'
import { responseSchemas, type JsonSchema } from './schemas.js'

/** A reply a route documents. */
export interface ResponseDoc {
  description: string
  /** Default application/json. */
  contentType?: string
  schema?: JsonSchema
}

/** What a route's `config.docs` says of it for the OpenAPI document. */
export interface RouteDocs {
  /** Unique, camelCase: what code generators name the call (`listTorrents`). */
  operationId: string
  summary: string
  description?: string
  tags?: string[]
  /** By status; every route also answers `4XX`/`5XX` with an Error. */
  responses: Record<string, ResponseDoc>
  /** The route also takes the bearer token as `?token=`. */
  queryToken?: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's entry in the OpenAPI document; routes without it are not listed. */
    docs?: RouteDocs
  }
}

interface DocumentedRoute {
  method: string
  url: string
  schema: { params?: JsonSchema, querystring?: JsonSchema, body?: JsonSchema }
  docs: RouteDocs
}

/** The documented routes of an app, gathered as they are added (install before any route). */
export class RouteCatalog {
  readonly routes: DocumentedRoute[] = []

  install (app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      const docs = route.config?.docs
      if (docs === undefined) return
      const methods: HTTPMethods[] = Array.isArray(route.method) ? route.method : [route.method]
      const schema = (route.schema ?? {}) as DocumentedRoute['schema']
      for (const method of methods) {
        // fastify adds a HEAD route beside every GET; it answers the same headers and is not listed.
        if (method === 'HEAD') continue
        this.routes.push({ method: method.toLowerCase(), url: route.url, schema, docs })
      }
    })
  }
}

/**
 * A request schema in the document's dialect (JSON Schema 2020-12): draft-07's `dependencies` of property lists is
 * 2020-12's `dependentRequired`. Everything else is the same keyword.
 */
export function toOpenApiSchema (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toOpenApiSchema)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    const name = key === 'dependencies' && Object.values(value as object).every(Array.isArray) ? 'dependentRequired' : key
    out[name] = toOpenApiSchema(value)
  }
  return out
}

function parameters (schema: JsonSchema | undefined, location: 'path' | 'query'): unknown[] {
  if (schema === undefined) return []
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || required.has(name),
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
    schema: toOpenApiSchema(property)
  }))
}

function withoutProperty (schema: JsonSchema | undefined, name: string): JsonSchema | undefined {
  if (schema === undefined) return undefined
  const properties = { ...(schema.properties ?? {}) as Record<string, JsonSchema> }
  delete properties[name]
  return { ...schema, properties }
}

function requestBody (schema: JsonSchema): unknown {
  // A body of no fields may be left out (an empty JSON body is `{}`).
  const optional = Object.keys((schema.properties ?? {}) as object).length === 0
  return { required: !optional, content: { 'application/json': { schema: toOpenApiSchema(schema) } } }
}

export interface OpenApiOptions {
  version: string
  /** The configured authentication: the document requires exactly what the API does. */
  basic: boolean
  bearer: boolean
}

/** The document for the routes gathered so far. */
export function buildOpenApi (catalog: RouteCatalog, options: OpenApiOptions): Record<string, unknown> {
  const securitySchemes: Record<string, unknown> = {}
  const security: Array<Record<string, string[]>> = []
  if (options.basic) {
    securitySchemes.basic = { type: 'http', scheme: 'basic', description: 'The user and password of --api-auth USER:PASS' }
    security.push({ basic: [] })
  }
  if (options.bearer) {
    securitySchemes.bearer = { type: 'http', scheme: 'bearer', description: 'The node\'s API token' }
    securitySchemes.tokenQuery = { type: 'apiKey', in: 'query', name: 'token', description: 'The API token as ?token= (the event stream only: EventSource sends no headers)' }
    security.push({ bearer: [] })
  }
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of catalog.routes) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    const responses: Record<string, unknown> = {}
    for (const [status, doc] of Object.entries(route.docs.responses)) {
      responses[status] = doc.schema === undefined
        ? { description: doc.description }
        : { description: doc.description, content: { [doc.contentType ?? 'application/json']: { schema: doc.schema } } }
    }
    const error = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
    responses['4XX'] ??= { description: 'A refused request (see docs/api.md#errors)', ...error }
    responses['5XX'] ??= { description: 'A fault of the node', ...error }
    // `?token=` is documented as a security scheme, not as a parameter.
    const query = route.docs.queryToken === true ? withoutProperty(route.schema.querystring, 'token') : route.schema.querystring
    const operation: Record<string, unknown> = {
      summary: route.docs.summary,
      ...(route.docs.description === undefined ? {} : { description: route.docs.description }),
      ...(route.docs.tags === undefined ? {} : { tags: route.docs.tags }),
      operationId: route.docs.operationId,
      parameters: [...parameters(route.schema.params, 'path'), ...parameters(query, 'query')],
      ...(route.schema.body === undefined ? {} : { requestBody: requestBody(route.schema.body) }),
      responses,
      ...(route.docs.queryToken === true && options.bearer ? { security: [...security, { tokenQuery: [] }] } : {})
    }
    paths[path] ??= {}
    paths[path][route.method] = operation
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'p2pshare node API',
      version: options.version,
      description: 'The REST API of a p2pshare node (see docs/api.md). Every request must name the node by a Host it answers to; ' +
        'every method but GET, HEAD and OPTIONS needs Content-Type: application/json (DELETE excepted) and no foreign Origin.'
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    ...(security.length === 0 ? {} : { security }),
    paths,
    components: {
      schemas: responseSchemas,
      ...(security.length === 0 ? {} : { securitySchemes })
    }
  }
}
