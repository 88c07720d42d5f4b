#!/usr/bin/env node
// The executable only hands over to the library's CLI entry point.
import { main } from '../dist/src/cli/main.js'

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
