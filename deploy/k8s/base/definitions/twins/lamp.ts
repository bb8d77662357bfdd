// An example definition shipped in the ConfigMap: replace this folder's files
// with your own twins (and definitions/rules with your rules). They load from
// the mounted folder as they are: xstate and twin-engine/define resolve to the
// engine's copies (docs/deploy.md).
import { assign, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'

export default defineTwin({
  type: 'lamp',
  version: 1,
  events: {
    on: {},
    off: {},
    level: { properties: { pct: { type: 'number', minimum: 0, maximum: 100 } }, required: ['pct'] },
  },
  machine: setup({
    types: {} as { context: { pct: number }; events: { type: 'on' } | { type: 'off' } | { type: 'level'; pct: number } },
  }).createMachine({
    id: 'lamp',
    context: { pct: 0 },
    initial: 'off',
    states: {
      off: { on: { on: 'on' } },
      on: { on: { off: 'off', level: { actions: assign({ pct: ({ event }) => event.pct }) } } },
    },
  }),
})
