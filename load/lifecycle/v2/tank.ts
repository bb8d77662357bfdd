import { assign, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'

/**
 * Version 2 of the migration benchmark's twin (load/migrate.ts), the change of
 * test/fixtures/lifecycle/v2/tank.ts: `filling` is renamed `loading` (its
 * pending timer with it) and the context gains `unit`.
 */
export const FILL_MS = 24 * 3_600_000

export default defineTwin({
  type: 'tank',
  version: 2,
  events: {
    inc: { properties: { seq: { type: 'integer', minimum: 1 } }, required: ['seq'] },
    fill: {},
    drain: {},
  },
  migrations: {
    1: (twin) => {
      const rename = (s: string) => s.replace('tank.filling', 'tank.loading')
      return {
        ...twin,
        value: twin.value === 'filling' ? 'loading' : twin.value,
        context: { ...twin.context, unit: 'l' },
        timers: Object.fromEntries(Object.entries(twin.timers).map(([id, t]) => [rename(id), { due: t.due, event: { ...t.event, type: rename(t.event.type) } }])),
      }
    },
  },
  contextSchema: { properties: { count: { type: 'integer' }, unit: { const: 'l' } }, required: ['count', 'unit'] },
  machine: setup({
    types: {} as { context: { count: number; lastSeq: number; fills: number; unit: 'l' } },
  }).createMachine({
    id: 'tank',
    context: { count: 0, lastSeq: 0, fills: 0, unit: 'l' },
    initial: 'idle',
    on: {
      inc: { actions: assign(({ context, event }) => ({ count: context.count + 1, lastSeq: Math.max(context.lastSeq, (event as unknown as { seq: number }).seq) })) },
    },
    states: {
      idle: { on: { fill: 'loading' } },
      loading: { after: { [FILL_MS]: { target: 'full', actions: assign({ fills: ({ context }) => context.fills + 1 }) } }, on: { drain: 'idle' } },
      full: { on: { drain: 'idle' } },
    },
  }),
})
