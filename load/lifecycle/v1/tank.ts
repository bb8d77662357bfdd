import { assign, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'

/**
 * Version 1 of the migration benchmark's twin (load/migrate.ts): the shape of
 * test/fixtures/lifecycle/v1/tank.ts with a fill timer of a day, so no timer
 * fires while the benchmark runs.
 */
export const FILL_MS = 24 * 3_600_000

export default defineTwin({
  type: 'tank',
  version: 1,
  events: {
    inc: { properties: { seq: { type: 'integer', minimum: 1 } }, required: ['seq'] },
    fill: {},
    drain: {},
  },
  machine: setup({
    types: {} as { context: { count: number; lastSeq: number; fills: number } },
  }).createMachine({
    id: 'tank',
    context: { count: 0, lastSeq: 0, fills: 0 },
    initial: 'idle',
    on: {
      inc: { actions: assign(({ context, event }) => ({ count: context.count + 1, lastSeq: Math.max(context.lastSeq, (event as unknown as { seq: number }).seq) })) },
    },
    states: {
      idle: { on: { fill: 'filling' } },
      filling: { after: { [FILL_MS]: { target: 'full', actions: assign({ fills: ({ context }) => context.fills + 1 }) } }, on: { drain: 'idle' } },
      full: { on: { drain: 'idle' } },
    },
  }),
})
