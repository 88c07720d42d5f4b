/**
 * How the node API validates: Ajv as fastify ships it, made strict. Fastify's defaults coerce types (`"5"` becomes 5),
 * fill in defaults and silently drop unknown properties; here a value of the wrong type, an unknown field or a
 * malformed schema is an error, so what reaches a handler is exactly what its schema says. Errors become one readable
 * line naming the field (`body.limits.uploadLimit must be >= 1`).
 */
import type { FastifySchemaValidationError } from 'fastify'
import { ValidationError } from '../errors.js'

/** Ajv options over fastify's defaults (`ajv.customOptions`). */
export const AJV_OPTIONS = {
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  // Validation stops at the first error: allErrors is a DoS vector on large inputs (fastify's own note).
  allErrors: false,
  allowUnionTypes: true,
  // Unknown keywords and ill-typed schemas fail the build instead of being ignored or logged to the console.
  strict: true,
  // `required` inside `oneOf` names properties declared beside it, which strictRequired does not follow.
  strictRequired: false,
  // The failing value and its schema come with each error: the messages below quote them.
  verbose: true
} as const

/** Readable explanations of the patterns the schemas use, by pattern (schemas.ts registers them). */
const patternHints = new Map<string, string>()

/** A string schema with a pattern whose failure reads as `hint` (`ref must be a torrent id...`). */
export function patterned (pattern: string, hint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  patternHints.set(pattern, hint)
  return { type: 'string', pattern, ...extra }
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'an array',
  null: 'null'
}

/** A value from the request, quoted for a message: JSON, cut to a readable length. */
function quote (value: unknown): string {
  const text = typeof value === 'string' && value.length > 64 ? `${value.slice(0, 64)}...` : value
  const json = JSON.stringify(text) ?? String(text)
  return json.length > 80 ? `${json.slice(0, 80)}...` : json
}

/** `body.limits.uploadLimit`, `query.state`, `params.ref` (RFC 6901 pointer unescaped). */
function location (dataVar: string, instancePath: string): string {
  const root = dataVar === 'querystring' ? 'query' : dataVar
  const parts = instancePath.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
  return [root, ...parts].join('.')
}

type VerboseError = FastifySchemaValidationError & { schema?: unknown, data?: unknown }

function describe (error: VerboseError, dataVar: string): string {
  const where = location(dataVar, error.instancePath)
  const params = error.params as Record<string, unknown>
  const field = dataVar === 'body' ? 'field' : 'parameter'
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where}: unknown ${field} ${quote(params.additionalProperty)}`
    case 'required':
      return `${where}: missing ${field} ${quote(params.missingProperty)}`
    case 'dependencies':
      return `${where}: ${quote(params.property)} needs ${quote(params.missingProperty)}`
    case 'minProperties':
      return `${where} must have at least ${String(params.limit)} ${field}${params.limit === 1 ? '' : 's'}`
    case 'oneOf': {
      // Ajv tries `oneOf` before `type`, and `required` holds for anything but an object.
      if (typeof error.data !== 'object' || error.data === null || Array.isArray(error.data)) return `${where} must be ${TYPE_WORDS.object}`
      // The oneOf schemas here are `{ required: [name] }` each: exactly one of these fields.
      const names = Array.isArray(error.schema) ? error.schema.map((s: { required?: unknown[] }) => String(s.required?.[0])) : []
      const given = names.filter((name) => Object.hasOwn(error.data as object, name))
      return given.length === 0
        ? `${where} needs one of the fields ${names.join(', ')}`
        : `${where} must have only one of the fields ${names.join(', ')} (got ${given.join(' and ')})`
    }
    case 'type': {
      const types = Array.isArray(params.type) ? params.type : [params.type]
      return `${where} must be ${types.map((t) => TYPE_WORDS[String(t)] ?? String(t)).join(' or ')}`
    }
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : []
      return `${where} must be one of ${allowed.map((v) => quote(v)).join(', ')} (got ${quote(error.data)})`
    }
    case 'pattern':
      return `${where} ${patternHints.get(String(params.pattern)) ?? 'has an invalid format'} (got ${quote(error.data)})`
    default:
      return `${where} ${error.message ?? 'is invalid'}`
  }
}

/**
 * fastify's `schemaErrorFormatter`: one error as one line, a failed `oneOf` first (the errors of its branches alone
 * would name just one of the fields).
 */
export function formatSchemaErrors (errors: FastifySchemaValidationError[], dataVar: string): Error {
  const error = errors.find((e) => e.keyword === 'oneOf') ?? errors[0]
  return new ValidationError(error === undefined ? `Invalid ${dataVar}` : describe(error, dataVar))
}
