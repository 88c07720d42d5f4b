/**
 * The length of a string in Unicode code points, as JSON Schema's `minLength`/`maxLength` count it (a surrogate pair
 * is one character): the function Ajv's generated validators call for those keywords
 * (ajv/lib/runtime/ucs2length.ts, MIT, after punycode.js's ucs2decode), here so that the precompiled validators of
 * validators.generated.ts need nothing of Ajv at run time.
 */
export function ucs2length (text: string): number {
  const length = text.length
  let count = 0
  let pos = 0
  while (pos < length) {
    count++
    const code = text.charCodeAt(pos++)
    if (code >= 0xd800 && code <= 0xdbff && pos < length) {
      // A high surrogate followed by a low one: one character.
      if ((text.charCodeAt(pos) & 0xfc00) === 0xdc00) pos++
    }
  }
  return count
}
