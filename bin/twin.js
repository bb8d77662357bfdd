#!/usr/bin/env node
// The `twin` command. Twin definitions are TypeScript files loaded at run time,
// so the engine runs on tsx (docs/adr/0001-typescript-at-runtime-with-tsx.md).
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
