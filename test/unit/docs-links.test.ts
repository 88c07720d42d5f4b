/**
 * The documentation's links work in a clone of the repository: every relative link in README.md and docs/*.md names a
 * file inside the repository (not beside it, as `../shared/...` once did; not in dist/ or node_modules/, which a
 * clone does not have), and every `#anchor` names a heading of the file it points into.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const DOCS = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs')).filter(f => f.endsWith('.md')).sort().map(f => join(ROOT, 'docs', f))]

/**
 * The Markdown outside fenced code blocks, line by line (blank inside them), and without code spans: where a link is a
 * link. With `spans: 'text'`, code spans keep their text (a heading's anchor is made from it).
 */
function prose (markdown: string, spans: 'drop' | 'text' = 'drop'): string[] {
  const lines: string[] = []
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker !== undefined && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined
      lines.push('')
      continue
    }
    lines.push(fence === undefined ? line.replace(/(`+)((?:(?!\1).)+)\1/g, (_, _ticks: string, code: string) => spans === 'drop' ? '' : code) : '')
  }
  return lines
}

/** Link targets: inline links and images `[text](target "title")`, reference definitions `[id]: target`. */
function links (markdown: string): Array<{ line: number, target: string }> {
  const found: Array<{ line: number, target: string }> = []
  prose(markdown).forEach((text, i) => {
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ line: i + 1, target: m[1] ?? '' })
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text)
    if (definition !== null) found.push({ line: i + 1, target: definition[1] ?? '' })
  })
  return found
}

/** The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const line of prose(markdown, 'text')) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '')
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return out
}

test('every relative link in README.md and docs/*.md points to a file inside the repository, and its anchor to a heading', () => {
  const broken: string[] = []
  let checked = 0
  for (const doc of DOCS) {
    for (const { line, target } of links(readFileSync(doc, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:: not a file of ours
      checked++
      const where = `${relative(ROOT, doc)}:${line}: ${target}`
      const [pathPart = '', anchor] = target.split('#', 2)
      const path = decodeURIComponent(pathPart)
      const file = path === '' ? doc : isAbsolute(path) ? join(ROOT, path) : resolve(dirname(doc), path)
      const inside = relative(ROOT, file)
      if (inside.startsWith('..') || isAbsolute(inside)) { broken.push(`${where} (outside the repository)`); continue }
      const top = inside.split(sep)[0]
      if (top === 'node_modules' || top === 'dist') { broken.push(`${where} (not in a clone: ${top}/ is built or installed)`); continue }
      if (!existsSync(file)) { broken.push(`${where} (no such file)`); continue }
      if (anchor !== undefined && anchor !== '' && statSync(file).isFile() && file.endsWith('.md')) {
        if (!anchors(readFileSync(file, 'utf8')).has(decodeURIComponent(anchor).toLowerCase())) broken.push(`${where} (no heading with that anchor)`)
      }
    }
  }
  assert.ok(checked > 20, `the links were found (${checked})`)
  assert.deepEqual(broken, [], `broken links:\n${broken.join('\n')}`)
})

test('the link checker sees what it must: links outside code, GitHub\'s anchors', () => {
  const md = [
    '# Top `code` here', 'See [a](x.md#top-code-here) and ![img](p.png "title").', '`[not](a-link.md)` and',
    '```', '[not](a-link-either.md)', '# not a heading', '```', '[ref]: ../outside.md', '## Top code here', "## The seed's (BEP 15) API: `GET_CHUNK`"
  ].join('\n')
  assert.deepEqual(links(md).map(l => l.target), ['x.md#top-code-here', 'p.png', '../outside.md'])
  assert.deepEqual([...anchors(md)], ['top-code-here', 'top-code-here-1', 'the-seeds-bep-15-api-get_chunk'])
})
