import { assign, enqueueActions, setup } from 'xstate'
import { defineTwin } from 'twin-engine/define'

/**
 * Two missed heartbeats at the usual OCPP HeartbeatInterval of 300 s. Any
 * message counts as a heartbeat: OCPP 1.6 §4.6 lets a charge point skip its
 * heartbeat when it sent something else within the interval.
 */
export const OFFLINE_AFTER_MS = 600_000

/** Timer id of the offline watchdog: re-arming under the same id replaces the pending timer. */
const OFFLINE_TIMER = 'offlineWatchdog'

/**
 * OCPP 1.6 ChargePointStatus (§7.7) for one connector. `Reserved` is left out:
 * this twin does not model reservations, so a charger reporting it is dead-lettered.
 */
export const STATUSES = ['Available', 'Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Faulted', 'Unavailable'] as const
export type Status = (typeof STATUSES)[number]

/**
 * The connector status transitions OCPP 1.6 §4.9 allows (its table A2..I8,
 * without Reserved). Anything else is a protocol violation the engine
 * dead-letters, unless the twin is resynchronising (see `mayEnter`).
 */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  Available: ['Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Unavailable', 'Faulted'],
  Preparing: ['Available', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Faulted'],
  Charging: ['Available', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Unavailable', 'Faulted'],
  SuspendedEV: ['Available', 'Charging', 'SuspendedEVSE', 'Finishing', 'Unavailable', 'Faulted'],
  SuspendedEVSE: ['Available', 'Charging', 'SuspendedEV', 'Finishing', 'Unavailable', 'Faulted'],
  Finishing: ['Available', 'Preparing', 'Unavailable', 'Faulted'],
  Unavailable: ['Available', 'Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Faulted'],
  Faulted: ['Available', 'Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing', 'Unavailable'],
}

/** OCPP 1.6 ChargePointErrorCode (§7.6). */
export const ERROR_CODES = [
  'ConnectorLockFailure', 'EVCommunicationError', 'GroundFailure', 'HighTemperature', 'InternalError', 'LocalListConflict',
  'NoError', 'OtherError', 'OverCurrentFailure', 'OverVoltage', 'PowerMeterFailure', 'PowerSwitchFailure', 'ReaderFailure',
  'ResetFailure', 'UnderVoltage', 'WeakSignal',
] as const

/** OCPP 1.6 StopTransaction Reason (§7.33); absent means Local. */
export const STOP_REASONS = [
  'DeAuthorized', 'EmergencyStop', 'EVDisconnected', 'HardReset', 'Local', 'Other', 'PowerLoss', 'Reboot', 'Remote', 'SoftReset', 'UnlockCommand',
] as const

const wh = { type: 'integer', minimum: 0 }
const transactionId = { type: 'integer' }

/** Payload schemas: the OCPP 1.6 request fields the twin needs (lengths from the CiStringN types). */
export const CHARGER_EVENTS = {
  heartbeat: { additionalProperties: false },
  statusNotification: {
    properties: {
      status: { type: 'string', enum: STATUSES },
      errorCode: { type: 'string', enum: ERROR_CODES },
      info: { type: 'string', maxLength: 50 },
      vendorErrorCode: { type: 'string', maxLength: 50 },
    },
    required: ['status'],
    additionalProperties: false,
  },
  startTransaction: {
    properties: { transactionId, meterStartWh: wh, idTag: { type: 'string', minLength: 1, maxLength: 20 } },
    required: ['transactionId', 'meterStartWh'],
    additionalProperties: false,
  },
  meterValues: {
    properties: { energyWh: { type: 'number', minimum: 0 }, powerW: { type: 'number', minimum: 0, maximum: 1e6 } },
    required: ['energyWh'],
    additionalProperties: false,
  },
  stopTransaction: {
    properties: { transactionId, meterStopWh: wh, reason: { type: 'string', enum: STOP_REASONS } },
    required: ['meterStopWh'],
    additionalProperties: false,
  },
}

export interface Transaction {
  id: number
  idTag: string | null
  meterStartWh: number
  startedAt: number
}

export interface ChargerContext {
  id: string
  errorCode: string
  /** false until the first statusNotification: the initial state is a placeholder */
  statusKnown: boolean
  transaction: Transaction | null
  /** energy of the transaction in progress, from its meter values */
  sessionWh: number
  sessions: number
  /** energy delivered by completed sessions */
  deliveredKwh: number
  meterWh: number | null
  powerW: number | null
  online: boolean
  lastSeenAt: number | null
}

type DeviceEvent =
  | { type: 'heartbeat' }
  | { type: 'statusNotification'; status: Status; errorCode?: string; info?: string; vendorErrorCode?: string }
  | { type: 'startTransaction'; transactionId: number; meterStartWh: number; idTag?: string }
  | { type: 'meterValues'; energyWh: number; powerW?: number }
  | { type: 'stopTransaction'; transactionId?: number; meterStopWh: number; reason?: string }
type WatchdogEvent = { type: 'watchdog.offline' }
type ChargerEvent = (DeviceEvent | WatchdogEvent) & { at: number }

/** Derived events; the engine stamps each with the time it was emitted. */
export type ChargerDerivedEvent =
  | { type: 'sessionStarted'; id: string; transactionId: number; idTag: string | null; meterStartWh: number }
  | { type: 'sessionCompleted'; id: string; transactionId: number; idTag: string | null; kWh: number; durationS: number; reason: string }
  | { type: 'faulted'; id: string; errorCode: string; info: string | null; vendorErrorCode: string | null; transactionId: number | null }
  | { type: 'offline'; id: string; lastSeenAt: number | null }
  | { type: 'online'; id: string; offlineForMs: number }

// The engine stamps `at` when the timer fires (TwinDriver.fire).
const OFFLINE_WATCHDOG = { type: 'watchdog.offline' } as ChargerEvent

const errorCodeOf = (event: { status: Status; errorCode?: string }): string =>
  event.errorCode ?? (event.status === 'Faulted' ? 'OtherError' : 'NoError')

/*
 * The state is the connector's OCPP status, driven only by statusNotification;
 * the transaction lives in context because OCPP reports it on a separate
 * channel (StartTransaction/StopTransaction) that may come before or after
 * the matching status change.
 *
 * Offline is a context flag and one self-addressed delayed event re-armed by
 * every message (see twins/elevator.ts for why not an `after`).
 */
const machine = setup({
  types: {} as { context: ChargerContext; events: ChargerEvent; emitted: ChargerDerivedEvent; input: { type: string; id: string } },
  delays: { offlineAfter: OFFLINE_AFTER_MS },
  guards: {
    isStatus: ({ event }, params: { status: Status }) => event.type === 'statusNotification' && event.status === params.status,
    /**
     * A status change the spec allows, or any change while resynchronising:
     * before the first report (the initial state is a guess) or when the link
     * was down (the charger may have rebooted and moved on without us).
     */
    mayEnter: ({ context, event }, params: { from: Status; to: Status }) =>
      event.type === 'statusNotification' &&
      event.status === params.to &&
      (TRANSITIONS[params.from].includes(params.to) || !context.statusKnown || !context.online),
    canStart: ({ context, event }) =>
      event.type === 'startTransaction' && (context.transaction === null || context.transaction.id === event.transactionId),
    isOpenTransaction: ({ context, event }) =>
      event.type === 'stopTransaction' &&
      context.transaction !== null &&
      (event.transactionId === undefined || event.transactionId === context.transaction.id),
  },
  actions: {
    armOfflineWatchdog: enqueueActions(({ enqueue }) => {
      enqueue.cancel(OFFLINE_TIMER)
      enqueue.raise(OFFLINE_WATCHDOG, { id: OFFLINE_TIMER, delay: 'offlineAfter' })
    }),
    seen: enqueueActions(({ context, event, enqueue }) => {
      if (!context.online) {
        enqueue.emit({ type: 'online', id: context.id, offlineForMs: event.at - (context.lastSeenAt ?? event.at) })
      }
      enqueue.assign({ online: true, lastSeenAt: event.at })
      enqueue.cancel(OFFLINE_TIMER)
      enqueue.raise(OFFLINE_WATCHDOG, { id: OFFLINE_TIMER, delay: 'offlineAfter' })
    }),
    goOffline: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'offline', id: context.id, lastSeenAt: context.lastSeenAt })
      enqueue.assign({ online: false })
    }),
    recordStatus: enqueueActions(({ context, event, enqueue }, params: { from: Status; to: Status }) => {
      if (event.type !== 'statusNotification') return
      const errorCode = errorCodeOf(event)
      // Alarm on entering Faulted, and again if a faulted charger reports a different error.
      if (params.to === 'Faulted' && (params.from !== 'Faulted' || errorCode !== context.errorCode)) {
        enqueue.emit({
          type: 'faulted',
          id: context.id,
          errorCode,
          info: event.info ?? null,
          vendorErrorCode: event.vendorErrorCode ?? null,
          transactionId: context.transaction?.id ?? null,
        })
      }
      enqueue.assign({ errorCode, statusKnown: true })
    }),
    startSession: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'startTransaction' || context.transaction !== null) return // a redelivered start is a no-op
      const transaction = { id: event.transactionId, idTag: event.idTag ?? null, meterStartWh: event.meterStartWh, startedAt: event.at }
      enqueue.emit({ type: 'sessionStarted', id: context.id, transactionId: transaction.id, idTag: transaction.idTag, meterStartWh: transaction.meterStartWh })
      enqueue.assign({ transaction, sessionWh: 0, meterWh: event.meterStartWh })
    }),
    recordMeter: assign(({ context, event }) => {
      if (event.type !== 'meterValues') return {}
      const tx = context.transaction
      return {
        meterWh: event.energyWh,
        powerW: event.powerW ?? context.powerW,
        sessionWh: tx ? Math.max(0, event.energyWh - tx.meterStartWh) : context.sessionWh,
      }
    }),
    completeSession: enqueueActions(({ context, event, enqueue }) => {
      const tx = context.transaction
      if (event.type !== 'stopTransaction' || tx === null) return
      // A meter replaced mid-session can make stop < start: report nothing rather than negative energy.
      const sessionWh = Math.max(0, event.meterStopWh - tx.meterStartWh)
      const kWh = Math.round(sessionWh) / 1000
      enqueue.emit({
        type: 'sessionCompleted',
        id: context.id,
        transactionId: tx.id,
        idTag: tx.idTag,
        kWh,
        durationS: Math.round((event.at - tx.startedAt) / 1000),
        reason: event.reason ?? 'Local',
      })
      enqueue.assign({
        transaction: null,
        sessionWh: 0,
        sessions: context.sessions + 1,
        deliveredKwh: Math.round((context.deliveredKwh + kWh) * 1000) / 1000,
        meterWh: event.meterStopWh,
      })
    }),
  },
}).createMachine({
  id: 'charger',
  context: ({ input }) => ({
    id: input.id,
    errorCode: 'NoError',
    statusKnown: false,
    transaction: null,
    sessionWh: 0,
    sessions: 0,
    deliveredKwh: 0,
    meterWh: null,
    powerW: null,
    online: true,
    lastSeenAt: null,
  }),
  // A twin is created by its charger's first message, so it starts online with the watchdog armed.
  entry: 'armOfflineWatchdog',
  // Inoperative until the charger says otherwise; the first report may move it anywhere.
  initial: 'Unavailable',
  on: {
    heartbeat: { actions: 'seen' },
    // Clock-aligned meter values arrive in every status, with or without a transaction.
    meterValues: { actions: ['seen', 'recordMeter'] },
    // A session may end in any status: after Finishing, after the cable is pulled (Available), on a fault.
    stopTransaction: { guard: 'isOpenTransaction', actions: ['seen', 'completeSession'] },
    'watchdog.offline': { actions: 'goOffline' },
  },
  states: Object.fromEntries(STATUSES.map((status) => [status, statusState(status)])) as Record<Status, ReturnType<typeof statusState>>,
})

/**
 * One status: the same status again (chargers repeat it after a reconnect, or
 * to change errorCode) is a no-op, a change goes where the report says if
 * `mayEnter`. A transaction can start only on an operative, idle-or-charging
 * connector: not while Finishing, Faulted or Unavailable.
 */
function statusState(from: Status) {
  const startsTransactions = from !== 'Finishing' && from !== 'Faulted' && from !== 'Unavailable'
  return {
    on: {
      statusNotification: [
        { guard: { type: 'isStatus' as const, params: { status: from } }, actions: ['seen' as const, { type: 'recordStatus' as const, params: { from, to: from } }] },
        ...STATUSES.filter((to) => to !== from).map((to) => ({
          guard: { type: 'mayEnter' as const, params: { from, to } },
          target: to,
          actions: ['seen' as const, { type: 'recordStatus' as const, params: { from, to } }],
        })),
      ],
      ...(startsTransactions ? { startTransaction: { guard: 'canStart' as const, actions: ['seen' as const, 'startSession' as const] } } : {}),
    },
  }
}

export default defineTwin({
  type: 'charger',
  version: 1,
  description: 'EV charge point (one connector), OCPP 1.6 status model with charging sessions',
  events: CHARGER_EVENTS,
  // Counted live for the fleet (GET /twins/counts, the console's overview).
  indicators: { online: ({ context }) => context.online },
  machine,
})
