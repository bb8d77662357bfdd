import type { FastifyInstance } from 'fastify'
import type { StateValue } from 'xstate'
import type { ApiContext } from './context.ts'
import { checkedLimit, errors, twinParams, twinView } from './schemas.ts'
import { statechartOf, statechartSchema } from './statechart.ts'
import { MAX_WHERE, parseWhere } from './twinQuery.ts'
import { TwinError } from '../errors.ts'
import { twinKey } from '../model/ids.ts'
import { toView, type HistoryEntry, type TwinView } from '../model/record.ts'

const MAX_PAGE = 1000
const MAX_HISTORY = 1000

/** GET /twins, GET /twins/:type/:id(/history), POST /twins/:type/:id/events, GET /twin-types(/:type). */
export function twinRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { type: string; id: string } }>(
    '/twins/:type/:id',
    { config: { scope: 'read' }, schema: { summary: 'One twin: state, context, tags, attributes, commands', params: twinParams, response: { 200: twinView, ...errors } } },
    async (request) => {
      const { type, id } = request.params
      ctx.registry.requireActor(type)
      const record = await ctx.store.getRecord(type, id)
      if (!record) throw new TwinError('TWIN_ERR_NOT_FOUND', `no twin ${type}/${id}: it has not received an event yet`)
      return toView(twinKey(type, id), record, ctx.registry.tagsOf(type, record.v, record.c))
    },
  )

  app.get<{ Params: { type: string; id: string }; Querystring: { limit?: number } }>(
    '/twins/:type/:id/history',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'The twin\'s last transitions, newest first: "why is elevator 12 in fault?"',
        params: twinParams,
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY, default: 20 } }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              type: { type: 'string' },
              id: { type: 'string' },
              transitions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    rev: { type: 'integer' }, at: { type: 'integer' }, event: { type: 'string' },
                    from: { description: 'state value before' }, to: { description: 'state value after' },
                    emitted: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { type, id } = request.params
      ctx.registry.requireActor(type)
      const record = await ctx.store.getRecord(type, id)
      if (!record) throw new TwinError('TWIN_ERR_NOT_FOUND', `no twin ${type}/${id}: it has not received an event yet`)
      const history: HistoryEntry[] = Array.isArray(record.h) ? record.h : []
      const limit = checkedLimit(request.query.limit, 20, MAX_HISTORY)
      const transitions = history.slice(-limit).reverse().map((h) => ({ rev: h.r, at: h.at, event: h.e, from: h.f, to: h.t, emitted: h.x ?? [] }))
      return { type, id, transitions }
    },
  )

  app.get<{ Querystring: { type?: string; state?: string; tag?: string[]; where?: string[]; limit?: number; cursor?: string } }>(
    '/twins',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'List and query twins, in pages',
        description: 'Filters run on the server while paging through the shards; a page may be short or empty and still have `next`: follow it until absent. `where=<field>:<op>[:<value>]`, field `context.<path>` or `attributes.<name>`, op eq, ne, gt, gte, lt, lte, in (a|b), exists, missing; several are ANDed.',
        querystring: {
          type: 'object',
          properties: {
            type: { type: 'string', maxLength: 64 },
            state: { type: 'string', maxLength: 256, description: 'state value as XState matches it: moving, or normal.moving' },
            tag: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 8, description: 'twins whose state has any of these tags' },
            where: { type: 'array', items: { type: 'string', maxLength: 256 }, maxItems: MAX_WHERE, description: 'e.g. context.floor:gt:3' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
            cursor: { type: 'string', maxLength: 512 },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { twins: { type: 'array', items: twinView }, next: { type: 'string' } } }, ...errors },
      },
    },
    async (request) => {
      const { type, state, tag, where, limit, cursor } = request.query
      if (type !== undefined) ctx.registry.requireActor(type)
      const matchWhere = parseWhere(where ?? [])
      const tagsOf = (view: TwinView) => ctx.registry.tagsOf(view.type, view.value as StateValue, view.context)
      const match = tag?.length || matchWhere ? (view: TwinView) => (!tag?.length || tag.some((t) => tagsOf(view)?.has(t))) && (!matchWhere || matchWhere(view)) : undefined
      const page = await ctx.store.list({ type, state, match, limit: checkedLimit(limit, 100, MAX_PAGE), cursor })
      // Tags come from the definition, as on GET /twins/{type}/{id}.
      for (const view of page.twins) {
        const tags = tagsOf(view)
        if (tags?.size) view.tags = [...tags]
      }
      return page
    },
  )

  app.post<{ Params: { type: string; id: string }; Body: { event: string; payload?: Record<string, unknown> } }>(
    '/twins/:type/:id/events',
    {
      config: { scope: 'write' },
      schema: {
        summary: 'Send a twin an event, as its device would',
        params: twinParams,
        body: {
          type: 'object',
          properties: { event: { type: 'string', minLength: 1, maxLength: 64 }, payload: { description: 'the event payload object (its JSON Schema: GET /twin-types/:type)' } },
          required: ['event'],
          additionalProperties: false,
        },
        response: { 202: { type: 'object', properties: { accepted: { type: 'boolean' }, shard: { type: 'integer' }, entryId: { type: 'string' } } }, ...errors },
      },
    },
    async (request, reply) => {
      const { type, id } = request.params
      const { event, payload } = request.body
      const accepted = await ctx.ingestor.fromApi(type, id, event, JSON.stringify(payload ?? {}))
      reply.status(202)
      return { accepted: true, ...accepted }
    },
  )

  const describe = (type: string) => {
    const d = ctx.registry.require(type)
    const inputs = d.inputs.map((i) => ({ name: i.name, topic: i.topic, event: i.event, ...(i.keyPathText ? { keyPath: i.keyPathText } : { id: i.id }), as: i.as }))
    // Indicator names, so apps know which GET /twins/counts figures the type has even at 0 (counts omit zeros).
    const indicators = Object.keys(d.indicators ?? {})
    return { type, version: d.version, description: d.description, topic: d.topic.source, inputs, events: d.events, indicators, statechart: statechartOf(d.machine) }
  }
  const typeSchema = {
    type: 'object',
    properties: {
      type: { type: 'string' }, version: { type: 'integer' }, description: { type: 'string' }, topic: { type: 'string' },
      inputs: {
        type: 'array',
        description: 'input topics (ADR 0021): messages on `topic` become `event` for the twin named at `keyPath` in the payload (or `id`)',
        items: { type: 'object', properties: { name: { type: 'string' }, topic: { type: 'string' }, event: { type: 'string' }, keyPath: { type: 'string' }, id: { type: 'string' }, as: { type: 'string' } } },
      },
      events: { type: 'object', additionalProperties: true, description: 'device events with the JSON Schema of their payload' },
      indicators: { type: 'array', items: { type: 'string' }, description: 'the indicators the definition declares (counted per type by GET /twins/counts)' },
      statechart: statechartSchema,
    },
  }
  const ruleSchema = {
    type: 'object',
    properties: {
      name: { type: 'string' }, version: { type: 'integer' }, description: { type: 'string' },
      inputs: {
        type: 'array',
        items: {
          type: 'object',
          properties: { twin: { type: 'string' }, changes: { type: 'string' }, events: { type: 'array', items: { type: 'string' } }, groupBy: { type: 'string', description: 'attribute name, or "(function)"' } },
        },
      },
      statechart: statechartSchema,
    },
  }
  app.get('/twin-types', {
    config: { scope: 'read' },
    schema: {
      summary: 'Twin types with their events and statecharts, and the rules (actors per group, served under /twins/{rule}/{group})',
      response: { 200: { type: 'object', properties: { types: { type: 'array', items: typeSchema }, rules: { type: 'array', items: ruleSchema } } }, ...errors },
    },
  }, async () => ({
    types: ctx.registry.types.map(describe),
    rules: ctx.registry.rules.map((r) => ({
      name: r.name,
      version: r.version,
      description: r.description,
      inputs: r.inputs.map((i) => ({ twin: i.twin, changes: i.changes ?? 'none', events: i.events ?? [], groupBy: typeof i.groupBy === 'string' ? i.groupBy : '(function)' })),
      statechart: statechartOf(r.machine),
    })),
  }))

  app.get<{ Params: { type: string } }>('/twin-types/:type', {
    config: { scope: 'read' },
    schema: { summary: 'One twin type with its events and statechart', params: { type: 'object', properties: { type: { type: 'string', maxLength: 64 } }, required: ['type'] }, response: { 200: typeSchema, ...errors } },
  }, async (request) => describe(request.params.type))

}
