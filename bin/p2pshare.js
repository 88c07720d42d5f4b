#!/usr/bin/env node
// The executable only hands over to the library's CLI entry point.
import { main } from '../dist/src/cli/main.js'

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
process.exitCode = code
// The command's work is done: whatever a remote peer does, nothing it left open (a connection still being set up, a
// timer) may keep the process alive. Output already written is flushed by the exit; the timer itself holds nothing.
setTimeout(() => { process.exit(code) }, 1000).unref()
