/**
 * The node API's request validators, compiled ahead of time. Ajv compiling the route schemas was ~100 ms of every
 * start of `p2pshare node` (plus ~40 ms loading Ajv itself); validators.generated.ts holds the code Ajv generates for
 * them (its standalone mode, through fastify's own @fastify/ajv-compiler, with the options of validation.ts), made by
 * `npm run build` (scripts/build-validators.mjs, validator-codegen.ts). Here fastify is handed those functions in place
 * of its compiler.
 *
 * Each validator is found by a key: the HTTP part, the schema and the Ajv options, hashed. A schema changed since the
 * file was generated has no validator under its new key and is compiled at start-up by fastify's own compiler, loaded
 * then: never a stale validator, only a slower start (test/unit/api-validators.test.ts fails until the file is made
 * again). Serializers: no route of the API has a response schema (replies are serialized by errors.ts'
 * serializeJson), so fast-json-stringify is loaded only if one ever does.
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { FastifyServerOptions } from 'fastify'
import { generatedWith, validators as generated } from './validators.generated.js'

export { generatedWith }

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
export type BuildValidator = NonNullable<CompilersFactory['buildValidator']>
export type BuildSerializer = NonNullable<CompilersFactory['buildSerializer']>
/** What fastify asks a validator compiler for (the route's schema for one HTTP part). */
export interface ValidatorRoute { schema?: unknown, method: string, url: string, httpPart?: string }
type Validate = ((data: unknown) => boolean) & { errors?: unknown }
type ValidatorCompiler = (route: ValidatorRoute) => Validate

/** What fastify passes a validator factory as its second argument: its `ajv` server option. */
interface AjvServerOption { customOptions?: Record<string, unknown>, plugins?: unknown[] }

/**
 * The key of a validator: what decides the code Ajv generates for it. `code` (the standalone generator's own option)
 * is left out of the options; nothing else is.
 */
export function validatorKey (route: Pick<ValidatorRoute, 'httpPart' | 'schema'>, externalSchemas: unknown, ajv: AjvServerOption | undefined): string {
  const { code: _code, ...customOptions } = ajv?.customOptions ?? {}
  const plugins = (ajv?.plugins ?? []).map((p) => (typeof p === 'function' ? p.name : JSON.stringify(p)))
  const text = JSON.stringify([route.httpPart ?? '', route.schema, externalSchemas ?? {}, customOptions, plugins])
  return `${route.httpPart ?? 'schema'}:${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
}

/** fastify's own compilers, resolved from where fastify is installed (the versions it would load itself). */
function fastifyRequire (): NodeJS.Require {
  const local = createRequire(import.meta.url)
  return createRequire(local.resolve('fastify'))
}

export interface PrecompiledOptions {
  /** Precompiled validators by key; default: validators.generated.ts. */
  table?: Readonly<Record<string, () => unknown>>
  /** Called with each schema that had no precompiled validator (and was compiled at start-up). */
  onMiss?: (route: ValidatorRoute, key: string) => void
}

/** fastify's `schemaController.compilersFactory.buildValidator`: the precompiled validators, Ajv for any other schema. */
export function precompiledValidators (options: PrecompiledOptions = {}): BuildValidator {
  const table = options.table ?? (generated as Readonly<Record<string, () => unknown>>)
  const made = new Map<string, Validate>()
  const factory = (externalSchemas: unknown, ajv?: AjvServerOption): ValidatorCompiler => {
    let fallback: ValidatorCompiler | undefined
    return (route: ValidatorRoute): Validate => {
      const key = validatorKey(route, externalSchemas, ajv)
      const known = made.get(key)
      if (known !== undefined) return known
      const make = Object.hasOwn(table, key) ? table[key] : undefined
      if (make === undefined) {
        options.onMiss?.(route, key)
        fallback ??= (fastifyRequire()('@fastify/ajv-compiler') as () => (e: unknown, a: unknown) => ValidatorCompiler)()(externalSchemas, ajv)
        return fallback(route)
      }
      const validate = make() as Validate
      made.set(key, validate)
      return validate
    }
  }
  return factory as unknown as BuildValidator
}

/** fastify's `schemaController.compilersFactory.buildSerializer`: fast-json-stringify, loaded at the first response schema. */
export function lazySerializers (): BuildSerializer {
  const factory = (...args: unknown[]): ReturnType<BuildSerializer> => {
    let compiler: ReturnType<BuildSerializer> | undefined
    return (route) => {
      compiler ??= (fastifyRequire()('@fastify/fast-json-stringify-compiler') as () => (...a: unknown[]) => ReturnType<BuildSerializer>)()(...args)
      return compiler(route)
    }
  }
  return factory as BuildSerializer
}
