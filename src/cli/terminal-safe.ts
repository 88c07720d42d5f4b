/**
 * Text from others, made safe to print on a terminal. A file name comes from whoever registered it (with a tracker
 * we do not run, anything at all), a torrent's name from whoever made it: printed as it is, an ESC starts a control
 * sequence (`\x1b]0;...` retitles the window, `\x1b[2J` clears the screen, OSC 8 fakes a link, some terminals answer
 * queries into their input), a newline or carriage return forges whole lines of our output, and a bidirectional
 * control reorders what the line shows (`a\u202Egpj.exe` reads `aexe.jpg`, CVE-2021-42574).
 */

/**
 * What is never printed as it is: C0 controls (newline, carriage return, tab and ESC among them), DEL and C1 controls
 * (U+0080-U+009F: U+009B is a one-character CSI to some terminals), the line and paragraph separators U+2028 and
 * U+2029, and the bidirectional controls U+202A-U+202E, U+2066-U+2069, U+200E, U+200F and U+061C.
 */
const UNSAFE = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu

/** `text` with every character in UNSAFE replaced by `?`, so that it prints as one inert line. */
export function terminalSafe (text: string): string {
  return text.replace(UNSAFE, '?')
}

/** What JSON.stringify leaves as it is but a terminal would act on: DEL, C1, U+2028/U+2029 and bidirectional controls. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu

/**
 * `JSON.stringify(value)` with the characters a terminal would act on written as `\uXXXX` escapes (JSON.stringify
 * escapes C0 controls itself): the same JSON value, safe to print.
 */
export function terminalSafeJson (value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
