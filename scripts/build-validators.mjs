#!/usr/bin/env node
// `npm run build`, after tsc: writes src/api/validators.generated.ts, the node API's request validators compiled ahead
// of time (src/api/validators.ts says why), when the route schemas or Ajv changed. The compiled copy in dist/ is written
// with it (the file is plain JavaScript), so a build that changed it needs no second tsc run.
//   node scripts/build-validators.mjs [--check] [--dist DIR]
//   --check: change nothing; exit 1 if the file is not what the schemas make now.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const check = args.includes('--check')
const distAt = args.indexOf('--dist')
const dist = distAt === -1 ? join(root, 'dist') : resolve(args[distAt + 1] ?? '')
const target = join(root, 'src', 'api', 'validators.generated.ts')

const { generateValidatorSource } = await import(pathToFileURL(join(dist, 'src', 'api', 'validator-codegen.js')).href)
const { source, keys } = await generateValidatorSource()
let current = ''
try { current = readFileSync(target, 'utf8') } catch { /* not made yet */ }
if (current === source) {
  process.exitCode = 0
} else if (check) {
  process.stderr.write(`${target} is out of date (the route schemas or Ajv changed): run npm run build\n`)
  process.exitCode = 1
} else {
  writeFileSync(target, source)
  writeFileSync(join(dist, 'src', 'api', 'validators.generated.js'), source)
  process.stdout.write(`build-validators: wrote ${keys.length} validators to src/api/validators.generated.ts\n`)
}
