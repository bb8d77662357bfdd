import { assign, setup } from 'xstate'
import { defineTwin } from '../../src/definitions/defineTwin.ts'

/**
 * The timers scenario's twin: every `ping` re-arms a watchdog of `ms`; when it
 * fires the twin goes `silent`. The change notice of the firing carries
 * `updatedAt` = the timer's due time, so a subscriber can measure how late it fired.
 */
export default defineTwin({
  type: 'watchdog',
  version: 1,
  events: {
    ping: { properties: { ms: { type: 'integer', minimum: 1, maximum: 86_400_000 } }, required: ['ms'], additionalProperties: false },
  },
  machine: setup({
    types: {} as { context: { pings: number }; events: { type: 'ping'; ms: number; at: number } },
    // The event that entered `watching`: a ping's `ms`; at creation (xstate.init) a minute.
    delays: { watchdog: ({ event }) => (event.type === 'ping' ? event.ms : 60_000) },
  }).createMachine({
    id: 'watchdog',
    context: { pings: 0 },
    initial: 'watching',
    on: {
      ping: {
        target: '.watching',
        reenter: true,
        actions: assign({ pings: ({ context }) => context.pings + 1 }),
      },
    },
    states: {
      watching: { after: { watchdog: 'silent' } },
      silent: {},
    },
  }),
})
